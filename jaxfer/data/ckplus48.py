"""TFDS builder for CK+48: the widely circulated 48x48 crop of CK+, one folder per class.

Layout: `<manual_dir>/<class>/<Sxxx>_<sequence>_<frame>.png` with class folders among anger,
contempt, disgust, fear, happy, sadness, surprise (and optionally neutral); the subject id is the
`Sxxx` prefix of the file name. Labels use MicroExpNet's 8-class order, so index 1 is anger as in
the original checkpoints; a class without a folder simply has no images.
"""
from __future__ import annotations

import dataclasses
import os
import re

import tensorflow_datasets as tfds

from jaxfer.data import classes
from jaxfer.data import manual

_SUBJECT = re.compile(r'^(S\d+)_')


@dataclasses.dataclass
class CKPlus48Config(manual.ManualConfig):
  image_size: int = 48


class CKPlus48(tfds.core.GeneratorBasedBuilder):
  """CK+48: 981 peak-expression faces of 118 subjects, 48x48 grayscale (one split, 'train')."""

  name = 'ckplus48'
  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'Initial release.'}
  BUILDER_CONFIG_CLASS = CKPlus48Config
  MANUAL_DOWNLOAD_INSTRUCTIONS = """\
  CK+48 is the 48x48 face crop of the Extended Cohn-Kanade dataset (CK+) that circulates on
  Kaggle and GitHub as "CK+48": one folder per class (anger, contempt, disgust, fear, happy,
  sadness, surprise) of PNG files named like S010_004_00000017.png (subject S010). CK+ itself is
  licensed by its authors (https://www.jeffcohn.net/resources/). Point config.data.manual_dir at
  the folder that holds the class folders.
  """

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description='CK+48 facial expressions (subject-independent folds are made at load time).',
        features=manual.features(self.builder_config.image_size, classes.CLASS_NAMES),
        supervised_keys=('image', 'label'),
        metadata=tfds.core.MetadataDict(),
    )

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    root = manual.require_dir(
        dl_manager.manual_dir, dataset='ckplus48',
        expected='one folder per class (anger, contempt, ...) of S<subject>_*.png files',
        source=self.MANUAL_DOWNLOAD_INSTRUCTIONS.strip())
    folders = {name: os.path.join(root, name) for name in classes.CLASS_NAMES
               if os.path.isdir(os.path.join(root, name))}
    if not folders:
      raise FileNotFoundError(
          f'ckplus48: {root} holds none of the class folders '
          f'{", ".join(classes.CLASS_NAMES[1:])}; point config.data.manual_dir at the folder '
          'that contains them')
    unknown = sorted(name for name in os.listdir(root) if not name.startswith('.')
                     and os.path.isdir(os.path.join(root, name)) and name not in folders)
    if unknown:
      # A misnamed class folder (happiness/ for happy/) would silently drop its images.
      raise ValueError(f'ckplus48: {root} has the folder(s) {", ".join(unknown)}, which are not '
                       f'class names; expected class folders among '
                       f'{", ".join(classes.CLASS_NAMES)} (rename or remove them)')
    for name, folder in folders.items():
      if not manual.image_files(folder):
        raise FileNotFoundError(f'ckplus48: the class folder {folder} holds no image files; '
                                'remove it or restore its images')
    return {'train': self._generate_examples(root, folders)}

  def _generate_examples(self, root: str, folders: dict[str, str]):
    summary = manual.BuildSummary('ckplus48', self.builder_config.strict)
    for label, folder in folders.items():
      for path in manual.image_files(folder):
        name = os.path.basename(path)
        subject = _SUBJECT.match(name)
        if subject is None:
          summary.skip(path, 'the file name does not start with a subject id like S010_')
          continue
        image = manual.read_image(path, self.builder_config, summary)
        if image is not None:
          relative = os.path.relpath(path, root)
          yield relative, {'image': image, 'label': label, 'subject_id': subject.group(1),
                           'file_name': relative}
    manual.finish(self.info, summary)


BUILDER = CKPlus48
