from .base import BaseTeacher
from .clip import CLIPTeacher
from .dino import DINOTeacher, TimmTeacher

__all__ = ['BaseTeacher', 'CLIPTeacher', 'DINOTeacher', 'TimmTeacher']
