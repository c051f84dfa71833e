"""People's accounts for the pages: e-mail and argon2 password, bound as API keys are."""
