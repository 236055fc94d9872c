"""Pictures staff upload in the back-office for rewards, offers, challenges and badges
(docs/pictures.md): checked and resized with Pillow at upload (``services``), stored through
the default storage, served from this host (``views``) and drawn with ``srcset`` or a
placeholder (``members.templatetags.pictures``)."""
