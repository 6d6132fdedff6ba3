"""The shared figure helpers: the overlap check sees what the renderer draws."""
from search import figures


def test_overlapping_labels_finds_two_annotations_at_one_point_and_not_apart():
  plt = figures.pyplot()
  fig, ax = plt.subplots(figsize=(4, 3))
  ax.annotate('first label', (0.5, 0.5))
  ax.annotate('second label', (0.5, 0.5))
  ax.annotate('far away', (0.05, 0.05))
  found = figures.overlapping_labels(fig)
  plt.close(fig)
  assert ('first label', 'second label') in found
  assert not any('far away' in pair for pair in found)


def test_percent_limits_hold_the_data_and_stay_inside_0_and_100():
  assert figures.percent_limits([55.0, 60.0], [70.0, 99.5]) == (53.0, 100.0)
  assert figures.percent_limits([1.0], [3.0]) == (0.0, 5.0)
  assert figures.percent_limits([], []) == (0.0, 100.0)


def test_save_writes_the_png_and_its_vector_copies(tmp_path):
  plt = figures.pyplot()
  fig, ax = plt.subplots()
  ax.plot([1, 2], [3, 4])
  paths = figures.save(fig, str(tmp_path / 'a.png'), vector=True)
  assert [p.rsplit('.', 1)[1] for p in paths] == ['png', 'pdf', 'svg']
  assert (tmp_path / 'a.pdf').read_bytes().startswith(b'%PDF')
  assert b'<svg' in (tmp_path / 'a.svg').read_bytes()[:2000]
