"""Authentication and authorisation of the server.

``tokens`` (who a bearer token belongs to), ``policy`` (what that user may do, decided from
the request alone), ``handler`` (the LangGraph auth handler that applies both).
"""
