"""W3C WoT Thing Descriptions (TD 1.1): model, validation, canonical form and hash."""

from exchange.wot.td import Affordance, ThingDescription, canonical_td, td_hash
from exchange.wot.validate import MAX_TD_BYTES, TD10_CONTEXT, TD11_CONTEXT, TDValidationError, validate_td

__all__ = ["Affordance", "MAX_TD_BYTES", "TD10_CONTEXT", "TD11_CONTEXT", "TDValidationError", "ThingDescription", "canonical_td",
           "td_hash", "validate_td"]
