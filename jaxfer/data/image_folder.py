"""TFDS builder for any class-per-folder tree of images, with subject ids taken from the paths.

Layout: `<manual_dir>/<class>/**/<image>` (one split, 'train'), or `<manual_dir>/train/<class>/...`
and `<manual_dir>/test/<class>/...` (splits 'train' and 'test'). Class names are the folder names,
sorted, unless `class_names` lists them in order; `subject_regex` finds the subject in each path.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import re

import tensorflow_datasets as tfds

from jaxfer.data import manual

SPLITS = ('train', 'test')
EXPECTED = ('one folder per class of image files (<manual_dir>/<class>/**/<image>), or train/ and '
            'test/ folders that each hold such class folders')


@dataclasses.dataclass
class ImageFolderConfig(manual.ManualConfig):
  """Settings of an image-folder dataset; `from_params` fills `class_names` from the folders.

  class_names: the classes in label order ((): the class folders, sorted); subject_regex: searched
  in each image's path relative to the manual directory, group 1 (or the whole match) is the
  subject id ('': every image is its own subject).
  """
  image_size: int = 84
  class_names: tuple = ()
  subject_regex: str = ''

  def __post_init__(self):
    if isinstance(self.class_names, str):
      raise ValueError(f'config.data.builder_kwargs.class_names = {self.class_names!r} is a '
                       "string; expected a tuple of class names, e.g. ('calm', 'smile')")
    self.class_names = tuple(str(name) for name in self.class_names)
    repeated = sorted({name for name in self.class_names if self.class_names.count(name) > 1})
    if repeated:
      raise ValueError(f'config.data.builder_kwargs.class_names lists {", ".join(repeated)} more '
                       'than once; expected every class once, in label order')
    compile_subject_regex(self.subject_regex)

  @classmethod
  def from_params(cls, manual_dir: str, **params) -> 'ImageFolderConfig':
    """A config whose `class_names` are read from the class folders under `manual_dir`.

    The name encodes the settings (a digest for the listed classes and the regex, so any change
    to them gives another name) and the digest of the source listing, which covers the folders.
    """
    config = super().from_params(manual_dir, **params)
    _, class_names = layout(manual_dir, config.class_names)
    if not config.subject_regex:
      manual.logger.warning(
          'image_folder: config.data.builder_kwargs.subject_regex is empty, so every image is its '
          'own subject; folds made with config.data.num_folds are then not subject-independent '
          '(images of one person can fall on both sides)')
    parts = [f'image_size{config.image_size}', f'face_crop{int(config.face_crop)}',
             f'strict{int(config.strict)}', f'class_names{_text_digest(config.class_names)}',
             f'subject_regex{_text_digest(config.subject_regex)}', config.source_digest]
    return dataclasses.replace(config, name='_'.join(parts), class_names=class_names)


def _text_digest(value) -> str:
  """'' for an empty setting, else 8 hex digits that change with any change of it."""
  if not value:
    return ''
  return hashlib.sha256(repr(value).encode()).hexdigest()[:8]


def compile_subject_regex(pattern: str) -> re.Pattern | None:
  """The compiled `subject_regex` (None if empty), or ValueError naming the field."""
  if not pattern:
    return None
  try:
    return re.compile(pattern)
  except re.error as error:
    raise ValueError(f'config.data.builder_kwargs.subject_regex = {pattern!r} is not a valid '
                     f'regular expression: {error}') from None


def _subfolders(directory: str) -> list[str]:
  return sorted(name for name in os.listdir(directory)
                if os.path.isdir(os.path.join(directory, name)) and not name.startswith('.'))


def _images_under(folder: str) -> list[str]:
  """Image files anywhere under `folder` (hidden files and folders left out), sorted by path."""
  paths = []
  for directory, subdirs, _ in os.walk(folder):
    subdirs[:] = sorted(name for name in subdirs if not name.startswith('.'))
    paths.extend(manual.image_files(directory))
  return sorted(paths)


def layout(manual_dir: str, class_names: tuple[str, ...] = ()
           ) -> tuple[dict[str, list[tuple[str, str]]], tuple[str, ...]]:
  """The (class name, image path) pairs of every split under `manual_dir`, and the class names.

  Checks the layout: no images outside a class folder, no empty class folder, and with
  `class_names` given, no class folder it does not list.
  """
  root = manual.require_dir(manual_dir, dataset='image_folder', expected=EXPECTED,
                            source=ImageFolder.MANUAL_DOWNLOAD_INSTRUCTIONS.strip())
  top = _subfolders(root)
  if set(SPLITS) <= set(top):
    others = [name for name in top if name not in SPLITS]
    if others:
      raise ValueError(f'image_folder: {root} has train/ and test/ split folders and also the '
                       f'folder(s) {", ".join(others)}; with split folders every class folder '
                       'must be inside train/ or test/')
    split_dirs = {split: os.path.join(root, split) for split in SPLITS}
  elif set(SPLITS) & set(top):
    present, = set(SPLITS) & set(top)
    missing, = set(SPLITS) - {present}
    raise FileNotFoundError(f'image_folder: {root} has a {present}/ folder but no {missing}/ '
                            'folder; split folders need both train/ and test/, each holding '
                            f'class folders (or rename {present}/ if it is a class)')
  else:
    split_dirs = {'train': root}
  files = {}
  for split, split_dir in split_dirs.items():
    loose = manual.image_files(split_dir)
    if loose:
      names = ', '.join(os.path.basename(path) for path in loose[:5])
      raise ValueError(f'image_folder: {split_dir} holds {len(loose)} image(s) outside any class '
                       f'folder ({names}{", ..." if len(loose) > 5 else ""}), which have no '
                       f'label; expected {EXPECTED}')
    folders = _subfolders(split_dir)
    if not folders:
      raise FileNotFoundError(f'image_folder: {split_dir} holds no class folders; expected '
                              f'{EXPECTED}')
    if class_names:
      unlisted = [name for name in folders if name not in class_names]
      if unlisted:
        raise ValueError(f'image_folder: {split_dir} has the class folder(s) '
                         f'{", ".join(unlisted)}, which config.data.builder_kwargs.class_names '
                         f'({", ".join(class_names)}) does not list; add them or remove the '
                         'folders')
    files[split] = []
    for name in folders:
      paths = _images_under(os.path.join(split_dir, name))
      if not paths:
        raise FileNotFoundError(f'image_folder: the class folder {os.path.join(split_dir, name)} '
                                'holds no image files; remove it or restore its images')
      files[split].extend((name, path) for path in paths)
  if not class_names:
    class_names = tuple(sorted({name for pairs in files.values() for name, _ in pairs}))
  return files, tuple(class_names)


class ImageFolder(tfds.core.GeneratorBasedBuilder):
  """Images in class folders, grayscale at one size; splits 'train' (and 'test' if present)."""

  name = 'image_folder'
  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'Initial release.'}
  BUILDER_CONFIG_CLASS = ImageFolderConfig
  MANUAL_DOWNLOAD_INSTRUCTIONS = """\
  Any dataset stored as one folder per class: <manual_dir>/<class>/**/<image> (images may sit in
  subfolders of a class folder), or <manual_dir>/train/<class>/... and <manual_dir>/test/<class>/...
  Point config.data.manual_dir at that folder; set config.data.builder_kwargs.subject_regex to a
  regular expression whose group 1 finds the subject in an image's relative path (e.g.
  '^[^/]+/(S\\d+)_' for files named S010_....png), so that folds keep each person on one side.
  """

  def _info(self) -> tfds.core.DatasetInfo:
    if not self.builder_config.class_names:
      raise ValueError('image_folder: the builder config has no class_names; make it with '
                       'ImageFolderConfig.from_params(manual_dir, ...), which reads the folders')
    return tfds.core.DatasetInfo(
        builder=self,
        description='Images from class folders (subject-independent folds are made at load '
                    'time).',
        features=manual.features(self.builder_config.image_size, self.builder_config.class_names),
        supervised_keys=('image', 'label'),
        metadata=tfds.core.MetadataDict(),
    )

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    config = self.builder_config
    files, _ = layout(dl_manager.manual_dir, config.class_names)
    unknown = sorted({name for pairs in files.values() for name, _ in pairs}
                     - set(config.class_names))
    if unknown:
      raise ValueError(f'image_folder: the class folder(s) {", ".join(unknown)} appeared after '
                       'the builder config was made; make it again with '
                       'ImageFolderConfig.from_params')
    root = os.fspath(dl_manager.manual_dir)
    return {split: self._generate_examples(root, split, pairs) for split, pairs in files.items()}

  def _generate_examples(self, root: str, split: str, pairs: list[tuple[str, str]]):
    config = self.builder_config
    subject_regex = compile_subject_regex(config.subject_regex)
    summary = manual.BuildSummary('image_folder', config.strict)
    for class_name, path in pairs:
      relative = os.path.relpath(path, root).replace(os.sep, '/')
      subject = relative
      if subject_regex is not None:
        match = subject_regex.search(relative)
        subject = (match.group(1) if subject_regex.groups else match.group(0)) if match else None
        if not subject:
          summary.skip(path, f'its path {relative!r} does not match (or gives an empty subject '
                             f'for) config.data.builder_kwargs.subject_regex '
                             f'{config.subject_regex!r}')
          continue
      image = manual.read_image(path, config, summary)
      if image is not None:
        yield relative, {'image': image, 'label': class_name, 'subject_id': subject,
                         'file_name': relative}
    manual.finish(self.info, summary, split)


BUILDER = ImageFolder
