"""The memory inspector: a page that shows what the agent remembers about a user, and why.

Served by the same server as the graphs (``langgraph.json`` -> ``http.app``, with the
project's auth applied to its routes): ``PAGE_PATH`` is the page, ``API_PATH`` the JSON
routes it calls. ``views`` reads and writes through the functions the casts use;
``app`` decides who may see whom and turns refusals into HTTP statuses.
"""

PAGE_PATH = "/memory"
API_PATH = "/memory/api"
