r"""A study on FER2013 across student families: one front from about 25 KB to 800 KB.

    jaxfer-search run --config configs/search_fer2013.py --workdir runs/search_fer2013 \
        --config.data.manual_dir=/path/to/fer2013_folders
    # The baseline front: MicroExpNet only, same recipe, fidelity and teacher (same run dir).
    jaxfer-search run --config configs/search_fer2013_microexpnet.py \
        --workdir runs/search_fer2013 --config.data.manual_dir=/path/to/fer2013_folders
    jaxfer-search compare runs/search_fer2013:fer2013 runs/search_fer2013:microexpnet \
        --out runs/compare_fer2013

configs/fer2013_folders.py's data and protocol: trials are scored on the validation set carved
from train/ (10%), never on test/; `export-best` evaluates the models it exports on test/ once.

The fidelity rule: every trial trains on a quarter of what remains of train/ after the
validation set (`config.data.train_fraction = 0.25`, about 6,460 images: whole subjects,
stratified by class, the same images for every trial), the teacher included, with 10 student
epochs instead of 20. Trials are ranked at that fidelity; a model chosen from the front is then
trained at full fidelity with `jaxfer distill --config configs/fer2013_folders.py` and the
trial's settings (docs/reproduction.md). The validation set stays whole, so the ranking is
measured on the same 2,870 images a full run is.

The space: the family, with MicroExpNet's width 0.75 to 3 (13,000 to 203,000 parameters at
48x48) and the separable family's width 0.5 to 2 and depth 3 or 4 (6,000 to 204,000), and the
temperature; lambda is fixed at 0.5. `size-aware` spreads each family's widths over its own
trials. On a 2-core CPU with 2 workers, 8 of the trials took 31 minutes (about 45 for all 12),
after the MicroExpNet-only baseline had trained the shared teacher (benchmarks/RESULTS.md).
"""
from configs import fer2013_folders
from configs import search_default


def get_config():
  config = fer2013_folders.get_config()
  config.data.train_fraction = 0.25
  config.student.num_epochs = 10
  config.student.optimizer.update(schedule='warmup_cosine', warmup_epochs=1)
  config.search = search_default.search_settings()
  config.search.update(study_name='fer2013', sampler='size-aware', n_trials=12)
  config.search.space = dict(
      temperature=dict(low=1.0, high=16.0, log=True),
      lam=0.5,
      width=dict(low=0.75, high=3.0, log=True),
      family=dict(choices=('microexpnet', 'separable'),
                  separable=dict(width=dict(low=0.5, high=2.0, log=True),
                                 depth=dict(choices=(3, 4)))),
  )
  return config
