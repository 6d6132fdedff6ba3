"""Procedurally rendered grayscale faces with the eight CK+ expression classes, in pure numpy.

Each image is drawn from FACS-like action-unit parameters on top of a per-subject identity and
per-image nuisance (pose, illumination, noise), so this embedded dataset needs no download and
held-out subjects make a genuine generalization test.
"""
from __future__ import annotations

import numpy as np

from jaxfer.data import classes

# Action-unit-like controls, each in [0, 1]:
#   raise: AU1+2 whole-brow raise        lower: AU4 brow lower/knit      inner: AU1 inner-brow raise
#   widen: AU5 upper-lid raise           narrow: AU7 lid tightener       cheek: AU6 cheek raise
#   smile: AU12 lip-corner pull          depress: AU15 corner depress    contempt: AU14, one side
#   wrinkle: AU9 nose wrinkle            upper_lip: AU10 upper-lip raise stretch: AU20 lip stretch
#   open: AU26/27 jaw drop               press: AU23/24 lip press
AUS = ('raise', 'lower', 'inner', 'widen', 'narrow', 'cheek', 'smile', 'depress', 'contempt',
       'wrinkle', 'upper_lip', 'stretch', 'open', 'press')

# FACS prototypes at apex; the expression actually rendered is intensity * prototype.
PROTOTYPES = (
    {},
    {'lower': 1.0, 'widen': 0.5, 'narrow': 0.6, 'press': 1.0},
    {'contempt': 1.0},
    {'wrinkle': 1.0, 'upper_lip': 1.0, 'depress': 0.3, 'narrow': 0.3},
    {'raise': 1.0, 'inner': 0.6, 'lower': 0.6, 'widen': 1.0, 'stretch': 1.0, 'open': 0.35},
    {'smile': 1.0, 'cheek': 0.8},
    {'inner': 1.0, 'lower': 0.6, 'depress': 1.0},
    {'raise': 1.0, 'inner': 0.3, 'widen': 1.0, 'open': 1.0},
)


# Nuisance ranges. The face is drawn in its own frame (about [-0.6, 0.6] x [-0.75, 0.8]) and
# FACE_SCALE maps it to the normalized image square [-1, 1]^2 the way a face-detector crop would.
FACE_SCALE = 1.35
FACE_CENTER_Y = 0.05
MAX_ROTATION_DEG = 10.0
MAX_SCALE_JITTER = 0.1
MAX_SHIFT = 0.12  # in normalized units, i.e. 6% of the image side
MAX_GRADIENT = 0.25


class _Canvas:
  """The pixel grid expressed in face coordinates, with the pose that maps faces to pixels."""

  def __init__(self, u, v, size, angle, scale, tx, ty):
    self.size = size
    self.cos, self.sin = np.cos(angle), np.sin(angle)
    self.scale, self.tx, self.ty = scale, tx, ty
    du, dv = u - tx, v - ty
    self.x = (self.cos * du + self.sin * dv) / scale
    self.y = (-self.sin * du + self.cos * dv) / scale + FACE_CENTER_Y
    self.px = 2.0 / size / scale

  def window(self, x0, y0, x1, y1):
    """Array slices covering the face-space box [x0, x1] x [y0, y1], for local drawing."""
    fx = np.array([x0, x1, x0, x1])
    fy = np.array([y0, y0, y1, y1]) - FACE_CENTER_Y
    u = self.scale * (self.cos * fx - self.sin * fy) + self.tx
    v = self.scale * (self.sin * fx + self.cos * fy) + self.ty
    cols = (u + 1.0) * self.size / 2.0 - 0.5
    rows = (v + 1.0) * self.size / 2.0 - 0.5
    c0 = min(max(int(np.floor(cols.min())) - 1, 0), self.size)
    c1 = min(max(int(np.ceil(cols.max())) + 2, 0), self.size)
    r0 = min(max(int(np.floor(rows.min())) - 1, 0), self.size)
    r1 = min(max(int(np.ceil(rows.max())) + 2, 0), self.size)
    return slice(r0, r1), slice(c0, c1)


def _soft(sd, px):
  """Box-filter coverage of a region given its signed distance (negative inside)."""
  return np.clip(0.5 - sd / px, 0.0, 1.0)


def _ellipse_sd(x, y, cx, cy, a, b):
  """Approximate signed distance to an axis-aligned ellipse."""
  r = np.sqrt(((x - cx) / a) ** 2 + ((y - cy) / b) ** 2)
  return (r - 1.0) * min(a, b)


def _paint(img, cover, value):
  """Alpha-composites `value` over `img` with coverage `cover`, in place."""
  img += cover * (value - img)


def _stroke(img, cv, pts, half_width, alpha, value=0.0):
  """Strokes a polyline onto `img` in place, computing only inside its bounding box."""
  # A stroke thinner than a pixel would alias away at small sizes; widen it and fade it instead.
  hw = max(half_width, 0.5 * cv.px)
  alpha *= half_width / hw
  pad = hw + 2.0 * cv.px
  xs, ys = [p[0] for p in pts], [p[1] for p in pts]
  sl = cv.window(min(xs) - pad, min(ys) - pad, max(xs) + pad, max(ys) + pad)
  x, y = cv.x[sl], cv.y[sl]
  if x.size == 0:
    return
  dist = None
  for (x0, y0), (x1, y1) in zip(pts[:-1], pts[1:]):
    dx, dy = x1 - x0, y1 - y0
    t = np.clip(((x - x0) * dx + (y - y0) * dy) / max(dx * dx + dy * dy, 1e-12), 0.0, 1.0)
    d = np.hypot(x - x0 - t * dx, y - y0 - t * dy)
    dist = d if dist is None else np.minimum(dist, d)
  sub = img[sl]
  sub += alpha * _soft(dist - hw, cv.px) * (value - sub)


def _identity(rng):
  """Draws one subject's face geometry, tones and resting expression."""
  u = rng.uniform
  # Feature placement varies less than real pose does, as human proportions are fairly fixed.
  eye_y = u(-0.14, -0.09)
  nose_y = eye_y + u(0.21, 0.26)
  return {
      'face_a': u(0.50, 0.60), 'face_b': u(0.66, 0.76), 'face_cy': u(-0.03, 0.03),
      'jaw': u(0.65, 1.0),
      'eye_dx': u(0.18, 0.22), 'eye_y': eye_y, 'eye_w': u(0.075, 0.10), 'eye_h': u(0.03, 0.042),
      'brow_gap': u(0.08, 0.12), 'brow_th': u(0.013, 0.026), 'brow_len': u(0.17, 0.23),
      'brow_arch': u(0.01, 0.04),
      'nose_y': nose_y, 'nose_w': u(0.045, 0.065),
      'mouth_y': nose_y + u(0.14, 0.17), 'mouth_w': u(0.14, 0.19),
      'lip_u': u(0.015, 0.032), 'lip_l': u(0.02, 0.04), 'lip_tone': u(0.6, 0.85),
      'skin': u(0.45, 0.8), 'hair': u(0.05, 0.75), 'brow_tone': u(0.15, 0.5),
      'hairline': u(-0.55, -0.40), 'hair_curve': u(0.3, 1.2), 'hair_vol': u(0.02, 0.12),
      'fold': u(0.0, 0.1),
      # A resting face that already looks a little cross, sad or pleased is what makes subtle
      # expressions ambiguous across subjects rather than only within one.
      'rest': {'lower': u(0.0, 0.3), 'inner': u(0.0, 0.2), 'mouth': u(-0.25, 0.25),
               'eye': u(-0.2, 0.2)},
  }


def _expression(ident, label, intensity, rng):
  """Per-image action-unit values: jittered prototype times intensity plus the resting offset."""
  au = dict.fromkeys(AUS, 0.0)
  for name, weight in PROTOTYPES[label].items():
    au[name] = min(1.0, weight * rng.uniform(0.8, 1.2)) * intensity
  rest = ident['rest']
  au['lower'] += rest['lower']
  au['inner'] += rest['inner']
  au['smile'] += max(rest['mouth'], 0.0)
  au['depress'] += max(-rest['mouth'], 0.0)
  au['widen'] += max(rest['eye'], 0.0)
  au['narrow'] += max(-rest['eye'], 0.0)
  au = {k: min(v, 1.0) for k, v in au.items()}
  au['contempt_side'] = 1.0 if rng.random() < 0.5 else -1.0
  au['gaze'] = (rng.uniform(-0.3, 0.3), rng.uniform(-0.15, 0.15))
  return au


def _draw_eye(img, cv, face_cover, ident, au, side):
  """Draws one eye with its socket, lids, brow and the wrinkles AU6 makes around it."""
  ex, ey = side * ident['eye_dx'], ident['eye_y']
  ew, eh = ident['eye_w'], ident['eye_h']
  sl = cv.window(ex - 2.6 * ew, ey - 0.25, ex + 2.6 * ew, ey + 0.24)
  x, y, sub, fc, px = cv.x[sl], cv.y[sl], img[sl], face_cover[sl], cv.px
  if x.size == 0:
    return
  # Lowered brows shade the whole socket and raised cheeks catch light under the eye: broad
  # cues that, unlike thin wrinkles, survive blur, noise and small image sizes.
  sock = np.exp(-(((x - ex) / (ew * 1.7)) ** 2 + ((y - ey + 0.015) / (eh * 3.0)) ** 2))
  sub *= 1.0 - (0.1 + 0.25 * au['lower'] + 0.1 * au['wrinkle']) * sock * fc
  if au['cheek'] > 0:
    cheek = np.exp(-(((x - ex * 1.1) / 0.11) ** 2 + ((y - ey - 0.14) / 0.06) ** 2))
    sub += 0.12 * au['cheek'] * cheek * fc

  # Upper and lower lids are separate half-ellipses so AU5 and AU6/AU7 act independently.
  hu = eh * (1.0 + 1.0 * au['widen'] - 0.45 * au['narrow'] - 0.35 * au['cheek']
             - 0.2 * au['lower'])
  hl = eh * 0.75 * (1.0 + 0.25 * au['widen'] - 0.55 * au['narrow'] - 0.65 * au['cheek'])
  hu, hl = max(hu, 0.004), max(hl, 0.003)
  w = ew * (1.0 - 0.1 * au['cheek'])
  dy = y - ey
  h = np.where(dy < 0, hu, hl)
  esd = (np.sqrt(((x - ex) / w) ** 2 + (dy / h) ** 2) - 1.0) * h
  eye = _soft(esd, px)
  _paint(sub, eye, 0.82)
  gx, gy = ex + au['gaze'][0] * w, ey + au['gaze'][1] * eh
  _paint(sub, _soft(_ellipse_sd(x, y, gx, gy, eh * 0.95, eh * 0.95), px) * eye, 0.22)
  _paint(sub, _soft(_ellipse_sd(x, y, gx, gy, eh * 0.4, eh * 0.4), px) * eye, 0.05)
  # Lashes make the upper lid outline heavier than the lower one.
  _paint(sub, _soft(np.abs(esd) - np.where(dy < 0, 0.012, 0.005), px) * 0.85, 0.1)
  _stroke(img, cv, [(ex - w * 0.8, ey - hu - 0.03), (ex, ey - hu - 0.045),
                    (ex + w * 0.8, ey - hu - 0.03)], 0.004, 0.25)
  if au['cheek'] > 0:
    # Crow's feet fan out from the outer corner when the cheeks rise.
    ox = ex + side * w * 1.1
    for ang in (-0.4, 0.0, 0.4):
      _stroke(img, cv, [(ox, ey), (ox + side * 0.05 * np.cos(ang), ey + 0.05 * np.sin(ang))],
              0.006, 0.4 * au['cheek'])
    _stroke(img, cv, [(ex - w * 0.8, ey + hl + 0.03), (ex, ey + hl + 0.04),
                      (ex + w * 0.8, ey + hl + 0.03)], 0.007, 0.35 * au['cheek'])

  # Brow inner, middle and outer points move with AU1, AU1+2 and AU4 (AU9 also pulls down).
  by, bl = ey - ident['brow_gap'], ident['brow_len']
  knit = au['lower'] + 0.4 * au['wrinkle']
  lift = 0.09 * au['raise']
  inner = (ex - side * (0.3 * bl + 0.035 * knit), by + 0.09 * knit - 0.08 * au['inner'] - lift)
  mid = (ex + side * 0.2 * bl,
         by - ident['brow_arch'] + 0.06 * knit - 0.03 * au['inner'] - 1.2 * lift)
  outer = (ex + side * 0.7 * bl, by + 0.02 + 0.04 * knit - 0.9 * lift)
  _stroke(img, cv, [inner, mid, outer], ident['brow_th'], 1.0, ident['brow_tone'])


def _draw_mouth(img, cv, ident, au, jaw_drop):
  """Draws lips, the open mouth and the AU14 dimple; returns each corner's (lift, half-width)."""
  my = ident['mouth_y'] + 0.3 * jaw_drop
  mw = ident['mouth_w'] * (1.0 + 0.3 * au['stretch'] + 0.08 * au['smile'] - 0.12 * au['press']
                           - 0.08 * au['open'])
  common = 0.07 * au['smile'] - 0.06 * au['depress'] - 0.015 * au['stretch']
  cs = au['contempt_side']
  corners = {}
  for side in (-1.0, 1.0):
    tight = au['contempt'] if side == cs else 0.0
    corners[side] = (common + 0.085 * tight, mw * (1.0 + 0.08 * tight))
  g_up = 0.02 * au['open'] + 0.04 * au['upper_lip'] + 0.02 * au['smile']
  g_down = jaw_drop + 0.015 * au['stretch'] + 0.02 * au['smile']
  reach = mw * 1.1 + 0.01
  sl = cv.window(-reach, my - 0.15, reach, my + g_down + 0.08)
  x, y, sub, px = cv.x[sl], cv.y[sl], img[sl], cv.px
  if x.size:
    right = x >= 0
    hw = np.where(right, corners[1.0][1], corners[-1.0][1])
    t2 = np.minimum((x / hw) ** 2, 1.0)
    seam = my - np.where(right, corners[1.0][0], corners[-1.0][0]) * t2
    env = np.sqrt(1.0 - t2)
    inner_top = seam - g_up * env
    inner_bot = seam + g_down * env
    thin = 1.0 - 0.75 * au['press']
    lip_top = inner_top - ident['lip_u'] * thin * (0.4 + 0.6 * env)
    lip_bot = inner_bot + ident['lip_l'] * thin * env ** 0.7
    side_sd = np.abs(x) - hw
    _paint(sub, _soft(np.maximum(np.maximum(lip_top - y, y - lip_bot), side_sd), px),
           ident['skin'] * ident['lip_tone'])
    mouth = _soft(np.maximum(np.maximum(inner_top - y, y - inner_bot), side_sd), px)
    _paint(sub, mouth, 0.07)
    teeth = _soft(np.maximum(y - (inner_top + 0.022), side_sd), px) * mouth
    _paint(sub, teeth, 0.78)
    seam_line = np.maximum(np.abs(y - seam) - 0.004 - 0.004 * au['press'], side_sd)
    sub *= 1.0 - 0.6 * _soft(seam_line, px)
  if au['contempt'] > 0:
    lift, hw_c = corners[cs]
    cx, cy = cs * hw_c, my - lift
    _stroke(img, cv, [(cx + cs * 0.01, cy - 0.025), (cx + cs * 0.02, cy + 0.015)], 0.007,
            0.5 * au['contempt'])
  return my, corners


def _draw_face(cv, ident, au, background):
  """Renders one face on a background, returning a float image on a 0..1 scale."""
  x, y, px = cv.x, cv.y, cv.px
  img = np.full(x.shape, background, dtype=np.float64)
  skin = ident['skin']
  fa, fb, fcy = ident['face_a'], ident['face_b'], ident['face_cy']
  jaw_drop = 0.16 * au['open']

  # Painter's order: hair behind the head and the neck go under the face oval.
  vol = ident['hair_vol']
  hair_sd = _ellipse_sd(x, y, 0.0, fcy - 0.12, fa + vol, fb * 0.85 + vol)
  _paint(img, _soft(hair_sd, px), ident['hair'])
  _paint(img, _soft(np.maximum(np.abs(x) - fa * 0.45, fcy + 0.3 - y), px), skin * 0.7)
  # The jaw narrows the lower half and a dropped jaw lengthens it.
  lower = np.clip((y - fcy) / fb, 0.0, 1.0)
  half_w = fa * (1.0 - (1.0 - ident['jaw']) * lower ** 2)
  half_h = np.where(y > fcy, fb + jaw_drop * 0.6, fb)
  r2 = (x / half_w) ** 2 + ((y - fcy) / half_h) ** 2
  face_cover = _soft((np.sqrt(r2) - 1.0) * fa * 0.9, px)
  _paint(img, face_cover, skin * (1.0 - 0.22 * np.minimum(r2, 1.0)))

  for side in (-1.0, 1.0):
    _draw_eye(img, cv, face_cover, ident, au, side)

  # AU1+2 folds the forehead horizontally, AU4 vertically between the brows.
  ey = ident['eye_y']
  strength = 0.35 * au['raise'] + 0.2 * au['inner']
  if strength > 0:
    span = 0.22 if au['raise'] >= au['inner'] else 0.12
    for k in range(3):
      yk = ey - ident['brow_gap'] - 0.1 - 0.05 * k
      _stroke(img, cv, [(-span, yk + 0.015), (0.0, yk), (span, yk + 0.015)], 0.006, strength)
  if au['lower'] > 0:
    for side in (-1.0, 1.0):
      _stroke(img, cv, [(side * 0.03, ey - ident['brow_gap'] - 0.02), (side * 0.021, ey - 0.02)],
              0.007, 0.5 * au['lower'])

  # The nose is drawn as shading only (bridge sides, wings, nostrils) so the AU9 wrinkles and
  # flare stand out against an otherwise constant structure.
  nw = ident['nose_w']
  ny = ident['nose_y'] - 0.015 * au['wrinkle'] - 0.01 * au['upper_lip']
  flare = 0.01 * au['wrinkle'] + 0.005 * au['upper_lip']
  for side in (-1.0, 1.0):
    _stroke(img, cv, [(side * 0.04, ey + 0.03), (side * nw, ny - 0.04)], 0.008, 0.12)
    _stroke(img, cv, [(side * nw * 0.5, ny + 0.02), (side * (nw + 0.012 + flare), ny),
                      (side * nw * 0.9, ny - 0.03)], 0.005, 0.3)
    sl = cv.window(side * nw * 0.55 - 0.04, ny - 0.01, side * nw * 0.55 + 0.04, ny + 0.04)
    nostril = _ellipse_sd(cv.x[sl], cv.y[sl], side * nw * 0.55, ny + 0.015, 0.02 + flare, 0.01)
    _paint(img[sl], _soft(nostril, px) * 0.8, 0.1)
  if au['wrinkle'] > 0:
    for k in range(3):
      wy = ey + 0.02 + 0.03 * k
      _stroke(img, cv, [(-0.05, wy + 0.01), (0.0, wy), (0.05, wy + 0.01)], 0.007,
              0.5 * au['wrinkle'])

  my, corners = _draw_mouth(img, cv, ident, au, jaw_drop)
  # Nasolabial folds deepen and swing outward with AU12, AU10 and AU9.
  fold = ident['fold'] + 0.4 * au['smile'] + 0.35 * au['upper_lip'] + 0.2 * au['wrinkle']
  for side, (lift, hws) in corners.items():
    _stroke(img, cv, [(side * (nw + 0.025), ny - 0.015),
                      (side * max(nw + 0.06, hws * 0.9 + 0.03), (ny + my) * 0.5),
                      (side * (hws + 0.04 + 0.02 * au['smile']), my + 0.03 - 0.5 * lift)],
            0.005 + 0.006 * fold, min(fold, 1.0))

  # The fringe goes on last since it covers the forehead (and forehead wrinkles) above it.
  fringe = np.maximum(y - (ident['hairline'] + ident['hair_curve'] * x * x), hair_sd)
  _paint(img, _soft(fringe, px), ident['hair'])
  return img


def generate(num_subjects: int, images_per_class: int, image_size: int = 84, seed: int = 0,
             min_intensity: float = 0.25, noise: float = 0.04,
             first_subject: int = 0) -> dict[str, np.ndarray]:
  """Renders a synthetic facial-expression dataset.

  Every image is a deterministic function of (seed, subject id, class, repeat index), so any
  range of subjects can be generated on its own and matches the same subjects generated as part
  of a larger call; two calls with disjoint subject ranges give subject-disjoint splits.

  Args:
    num_subjects: number of identities to render.
    images_per_class: images per (subject, class) pair.
    image_size: side of the square output images in pixels; any size works.
    seed: dataset seed; subject identities and per-image draws both derive from it.
    min_intensity: lower bound of the expression intensity, drawn uniformly in
      [min_intensity, 1] for every class but neutral (whose intensity is 0).
    noise: standard deviation of the Gaussian pixel noise on a 0..1 scale.
    first_subject: id of the first subject; ids run to first_subject + num_subjects - 1.

  Returns:
    A dict with 'image' (uint8 [N, image_size, image_size, 1]), 'label' (int64 [N], index into
    classes.CLASS_NAMES), 'subject_id' (int64 [N]) and 'intensity' (float32 [N]), where
    N = num_subjects * 8 * images_per_class, ordered by subject, then class, then repeat.
  """
  n_cls = len(classes.CLASS_NAMES)
  n = num_subjects * n_cls * images_per_class
  images = np.empty((n, image_size, image_size, 1), np.uint8)
  labels = np.empty(n, np.int64)
  subjects = np.empty(n, np.int64)
  intensities = np.empty(n, np.float32)
  # Pixel centres in normalized coordinates, so geometry is independent of the output size.
  coords = (np.arange(image_size) + 0.5) / image_size * 2.0 - 1.0
  v, u = np.meshgrid(coords, coords, indexing='ij')
  i = 0
  for subject in range(first_subject, first_subject + num_subjects):
    ident = _identity(np.random.default_rng([seed, subject]))
    for label in range(n_cls):
      for repeat in range(images_per_class):
        rng = np.random.default_rng([seed, subject, label, repeat])
        intensity = 0.0 if label == 0 else rng.uniform(min_intensity, 1.0)
        au = _expression(ident, label, intensity, rng)
        angle = np.deg2rad(rng.uniform(-MAX_ROTATION_DEG, MAX_ROTATION_DEG))
        scale = FACE_SCALE * rng.uniform(1.0 - MAX_SCALE_JITTER, 1.0 + MAX_SCALE_JITTER)
        tx, ty = rng.uniform(-MAX_SHIFT, MAX_SHIFT, size=2)
        # Background polarity is random so the face silhouette alone cannot set the contrast.
        sign = 1.0 if rng.random() < 0.5 else -1.0
        background = float(np.clip(ident['skin'] + sign * rng.uniform(0.15, 0.4), 0.02, 0.98))
        canvas = _Canvas(u, v, image_size, angle, scale, tx, ty)
        img = _draw_face(canvas, ident, au, background)
        phi = rng.uniform(0.0, 2.0 * np.pi)
        img *= 1.0 + rng.uniform(0.0, MAX_GRADIENT) * (np.cos(phi) * u + np.sin(phi) * v)
        img = (img - 0.5) * rng.uniform(0.75, 1.25) + 0.5 + rng.uniform(-0.1, 0.1)
        img += rng.normal(0.0, noise, img.shape)
        images[i, :, :, 0] = np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)
        labels[i], subjects[i], intensities[i] = label, subject, intensity
        i += 1
  return {'image': images, 'label': labels, 'subject_id': subjects, 'intensity': intensities}
