from .base import BaseTeacher
from .clip import CLIPTeacher
from .dino import DINOTeacher

__all__ = ['BaseTeacher', 'CLIPTeacher', 'DINOTeacher']
