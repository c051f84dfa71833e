"""What the pages for people draw on the server (charts), apart from the web views."""
