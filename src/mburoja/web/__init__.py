"""The analyst's web application at ``/``: sign-in, sessions, CSRF, and the pages.

Pages are rendered on the server with Jinja2 (autoescape on for every template) and read
only through the access policy, as the signed-in user. No page carries inline script; the
content security policy forbids it.
"""
