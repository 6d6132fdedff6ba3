"""MicroExpNet's eight expression classes, in the order of the original code and its checkpoints.

CK+ numbers its emotion codes 0 to 7 in this order too; every 8-class dataset here labels by it.
"""
from __future__ import annotations

CLASS_NAMES = ('neutral', 'anger', 'contempt', 'disgust', 'fear', 'happy', 'sadness', 'surprise')
