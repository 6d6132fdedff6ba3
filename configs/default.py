r"""Default: a ResNet teacher, then MicroExpNet distilled from it, on synthetic faces.

    jaxfer distill --config configs/default.py --workdir runs/default

Runs in about 4 minutes on a 2-core CPU (teacher first, then the student); every field below
can be overridden on the command line, e.g. `--config.distill.temperature=4`.
"""
import ml_collections


def optimizer(learning_rate: float, schedule: str = 'constant', weight_decay: float = 0.0,
              warmup_epochs: int = 0) -> ml_collections.ConfigDict:
  """Adam(W) settings; schedule is 'constant', 'cosine' or 'warmup_cosine'."""
  return ml_collections.ConfigDict(dict(
      learning_rate=learning_rate, schedule=schedule, weight_decay=weight_decay,
      warmup_epochs=warmup_epochs))


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.seed = 0  # Every random draw of a run (initialisation, data order) derives from it.
  # Which network `train_and_evaluate` trains: 'student' (distilled from the teacher) or 'teacher'.
  config.target = 'student'

  config.data = ml_collections.ConfigDict()
  # The dataset: synthetic_faces, ckplus, ckplus48, oulu_casia, fer2013, image_folder.
  config.data.name = 'synthetic_faces'
  config.data.data_dir = ''  # '' means $TFDS_DATA_DIR or ~/tensorflow_datasets.
  config.data.image_size = 84  # The model's input size (the paper's 84x84).
  # The rendered faces: subjects per split, images per class and subject, the renderer's seed,
  # the faintest expression and the pixel noise.
  config.data.synthetic = ml_collections.ConfigDict(dict(
      train_subjects=160, test_subjects=40, images_per_class=2, seed=0, min_intensity=0.25,
      noise=0.04))
  # Hand-downloaded datasets (ckplus, ckplus48, oulu_casia, fer2013, image_folder): the folder
  # holding the files as downloaded, and their builder's settings (see configs/ckplus48.py).
  config.data.manual_dir = ''
  config.data.builder_kwargs = ml_collections.ConfigDict()
  # num_folds >= 2: subject-independent k-fold over train_split, fold `fold` is the test side.
  # 0: train on train_split, test on test_split as the builder made them.
  config.data.num_folds = 0
  config.data.fold = 0  # Which fold is the test side (0 to num_folds - 1).
  config.data.fold_seed = 0  # Which subjects go to which fold.
  config.data.train_split = 'train'  # The builder's split to train on (and fold).
  config.data.test_split = 'test'  # The builder's split to test on when num_folds = 0.
  # > 0 (below 0.5): this share of the training side becomes a validation set that every
  # evaluation during training and search uses; the test side is kept for the final model only.
  config.data.validation_fraction = 0.0
  config.data.validation_seed = 0  # Which subjects the validation set takes.
  # < 1: train on this share of the training side only (whole subjects, stratified by class,
  # drawn with validation_seed after the validation set is carved; the test side stays whole).
  # A search's cheaper fidelity: its trials rank on a subset, the chosen models train on all.
  config.data.train_fraction = 1.0
  # 'paper8': the 8 fixed 224/256 crops of every training image (the paper's augmentation);
  # 'none': each image once. Test images: 'full', 'center' (224/256 window) or 'paper' (at 32,32).
  config.data.crops = 'none'
  config.data.eval_crop = 'full'  # The test images' view: see data.crops.

  config.teacher = ml_collections.ConfigDict()
  # One of jaxfer.models.TEACHERS; each has its settings in the section of its name below.
  config.teacher.model = 'resnet_small'
  # resnet_small: the filters of its three stages.
  config.teacher.resnet_small = ml_collections.ConfigDict(dict(stage_features=(32, 64, 128)))
  # inception_v3: the dropout before its classifier.
  config.teacher.inception_v3 = ml_collections.ConfigDict(dict(dropout=0.2))
  # A trained teacher to distill from (a directory written by `jaxfer train-teacher`, e.g.
  # runs/teacher/teacher; '{fold}' stands for the fold number). '' trains one in WORKDIR/teacher,
  # once: a finished teacher there is reused as it is.
  config.teacher.artifact = ''
  # Keep every trained teacher in $JAXFER_CACHE_DIR/teachers, keyed by what determines it (these
  # settings, the seed, the data's identity and jaxfer's version), and copy it from there into
  # any run directory that needs the same teacher: a second study, ablation or cross-validation
  # on the same data trains no teacher. False: every run directory trains its own.
  config.teacher.cache = True
  config.teacher.num_epochs = 24  # Passes over the training images.
  config.teacher.batch_size = 64  # Images per training step.
  # Random translation of training images by up to this many pixels (0: none).
  config.teacher.augment_shift = 4
  config.teacher.augment_flip = False  # Mirror training images left-right at random.
  config.teacher.optimizer = optimizer(2e-3, 'warmup_cosine', weight_decay=5e-4, warmup_epochs=1)
  # > 0: keep an exponential moving average of the parameters with this decay (ramped up over
  # the first steps, jaxfer.loop.ema_decay_at) and evaluate, export and serve it instead.
  config.teacher.ema_decay = 0.0
  # Smooths the hard labels' cross-entropy by this much (0: none).
  config.teacher.label_smoothing = 0.0

  # 'facenet2expnet': FaceNet2ExpNet's two stages (jaxfer/facenet2expnet.py): the convolutions
  # first learn to regress a face net's features (config.facenet2expnet), then the whole network
  # trains with the settings above. 'none': from random values.
  config.teacher.pretrain = 'none'

  # MicroExpNet: pooling after both convs, squeeze 16 (FC 48), 65,000 parameters at 84x84.
  # pooling, squeeze and dropout are its own settings; the separable family has none of them.
  config.student = ml_collections.ConfigDict()
  # One of jaxfer.models.FAMILIES: 'microexpnet' (ExpNet) or 'separable' (mini-Xception style).
  config.student.family = 'microexpnet'
  config.student.pooling = 'p12'
  config.student.squeeze = 16.0
  config.student.width = 1.0  # Multiplier on the filters (and FC units) of either family.
  config.student.depth = 4  # Residual modules of the separable family (each halves the size).
  config.student.dropout = 0.5
  # 'auto': MatmulConv on the CPU (XLA:CPU's small convolutions are slow), nn.Conv elsewhere.
  config.student.conv_impl = 'auto'
  config.student.standardize = False  # Per-image zero mean, unit variance before conv1.
  config.student.seed = -1  # -1: config.seed. Search trials give each student its own.
  config.student.num_epochs = 60
  config.student.batch_size = 64
  # The teacher's logits are computed on the unshifted images, so the student sees those.
  config.student.augment_shift = 0
  config.student.augment_flip = False
  config.student.optimizer = optimizer(1e-3)
  config.student.ema_decay = 0.0  # As config.teacher.ema_decay.
  config.student.label_smoothing = 0.0

  config.student.pretrain = 'none'  # As config.teacher.pretrain.

  # FaceNet2ExpNet's stage 1, for a teacher or student with pretrain='facenet2expnet'.
  config.facenet2expnet = ml_collections.ConfigDict()
  # 'identity': a teacher architecture trained here to tell the training split's subjects
  # apart; its pooled last feature map is the target.
  config.facenet2expnet.face_net = 'identity'
  # A directory for the face net and its features ('{fold}': the fold number); '' = face_net/
  # beside the trained model's directory (WORKDIR/face_net).
  config.facenet2expnet.artifact = ''
  # The regression loss, not given in the paper beyond a distance: 'l2' (squared) or 'l1'.
  config.facenet2expnet.loss = 'l2'
  # Each target dimension at zero mean and unit variance over the training images, so the
  # loss does not depend on the face net's scale.
  config.facenet2expnet.standardize_targets = True
  # Stage 1's training (the targets are of the unshifted images: no augmentation).
  config.facenet2expnet.stage1 = ml_collections.ConfigDict(dict(
      num_epochs=10, batch_size=64, augment_shift=0, augment_flip=False,
      optimizer=optimizer(1e-3, 'warmup_cosine', warmup_epochs=1), ema_decay=0.0,
      label_smoothing=0.0))
  # The identity face net: its architecture (settings in config.teacher.<model>) and training.
  config.facenet2expnet.identity = ml_collections.ConfigDict(dict(
      model='resnet_small', num_epochs=16, batch_size=64, augment_shift=4, augment_flip=False,
      optimizer=optimizer(2e-3, 'warmup_cosine', weight_decay=5e-4, warmup_epochs=1),
      ema_decay=0.0, label_smoothing=0.0))

  # The original MicroExpNet loss: (1-lam)*CE(y) + lam*CE(softmax(t/T), softmax(s/T)), no T^2.
  config.distill = ml_collections.ConfigDict()
  config.distill.loss = 'microexpnet'
  config.distill.temperature = 8.0
  config.distill.lam = 0.5
  # Soft targets from 'teacher' (its logits) or 'soft_labels' (a dataset's label distribution,
  # e.g. fer2013 with FER+ votes, as log-probabilities).
  config.distill.source = 'teacher'

  config.log = ml_collections.ConfigDict()
  # True: write per-epoch loss, accuracies and learning rate as TensorBoard event files in
  # WORKDIR/<teacher|student>/tensorboard (pip install -e ".[tensorboard]").
  config.log.tensorboard = False

  config.checkpoint_every_epochs = 1  # A run resumes from its latest checkpoint.
  config.eval_every_epochs = 5  # Evaluate (and log) the accuracy every this many epochs.
  config.eval_batch_size = 256  # Images per evaluation step.
  return config
