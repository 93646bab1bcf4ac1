"""LLM runner router: the pure-Python routing and recovery core."""
