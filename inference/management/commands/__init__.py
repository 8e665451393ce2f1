"""``python manage.py ...`` commands of the inference app."""
