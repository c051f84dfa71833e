"""The WSGI application for production: `gunicorn -w 4 voucher_service.wsgi:app`."""

from voucher_service.web.app import create_app

app = create_app()
