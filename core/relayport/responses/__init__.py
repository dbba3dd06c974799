"""The Responses API beyond its wire codec: the gateway's stored responses, passthrough to vendors
that serve it, and the vendors that speak only Responses (reached from the other surfaces)."""
