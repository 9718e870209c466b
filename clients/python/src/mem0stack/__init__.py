"""Python client for mem0-stack. The generated messages and stubs live in ``mem0stack.v1``."""
