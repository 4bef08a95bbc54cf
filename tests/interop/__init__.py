"""Interop tests against a real third-party OpenID provider (oidc-provider on Node.js)."""
