"""API and page routers; each route declares its permission with ``needs``."""
