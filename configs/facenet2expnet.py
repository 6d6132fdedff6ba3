r"""CK+48, 10 folds: teachers trained the FaceNet2ExpNet way on dlib's face net, MicroExpNet
distilled from them.

    pip install -e ".[facenet]"
    jaxfer train-teacher --cv --config configs/facenet2expnet.py --workdir runs/f2e
    jaxfer distill --cv --config configs/facenet2expnet.py --workdir runs/f2e
    # MicroExpNet trained the FaceNet2ExpNet way itself, without a teacher
    jaxfer distill --cv --config configs/facenet2expnet.py --workdir runs/f2e_student \
        --config.target=student --config.student.pretrain=facenet2expnet \
        --config.teacher.pretrain=none --config.distill.loss=none
    # The weaker face net that needs no download: a ResNet trained to tell the subjects apart
    jaxfer train-teacher --cv --config configs/facenet2expnet.py --workdir runs/f2e_identity \
        --config.facenet2expnet.face_net=identity

configs/ckplus48.py (the paper's 8 crops, 8 teacher epochs) with the teacher's convolutions
first trained for 8 epochs to regress dlib's 128-d descriptor of each face (stage 1), then the
whole teacher as in configs/ckplus48.py (stage 2). Each face's descriptor is computed once and
kept in $JAXFER_CACHE_DIR/dlib_resnet (981 faces, about 2 minutes on one core). A fold of the
dlib `distill` run takes about 6 minutes alone on a 2-core CPU (9.4 with another run beside it:
an hour for the ten); with the identity face net, which trains its own ResNet for 16 epochs
first, about twice that. Results: benchmarks/RESULTS.md (FaceNet2ExpNet on all 10 CK+48 folds).
"""
from configs import ckplus48


def get_config():
  config = ckplus48.get_config()
  config.teacher.pretrain = 'facenet2expnet'
  config.facenet2expnet.face_net = 'dlib_resnet'
  config.facenet2expnet.stage1.num_epochs = 8
  return config
