"""Wire contracts: the event envelope, payload models and the topic catalogue.

These modules import only pydantic and the standard library, so a booking system
(or a test) can use them without pulling in any I/O library.
"""

from services.kit.contracts.envelope import Envelope, Payload, decode_envelope, encode_envelope
from services.kit.contracts.registry import payload_type, registered_payloads
from services.kit.contracts.topics import TOPICS, TopicSpec, topic_spec

__all__ = [
    "TOPICS",
    "Envelope",
    "Payload",
    "TopicSpec",
    "decode_envelope",
    "encode_envelope",
    "payload_type",
    "registered_payloads",
    "topic_spec",
]
