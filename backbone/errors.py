"""Failure categories (ARCHITECTURE.md, error policy) and the exceptions that carry them.

    BackboneError                      category    what a processor does with it
     ├── DecodeError                   DESERIALIZATION      dead letter
     ├── SchemaValidationError         SCHEMA_VALIDATION    dead letter
     ├── UnknownCodeError              UNKNOWN_CODE         dead letter (replay after a mapping fix)
     ├── IllegalTransitionError        ILLEGAL_TRANSITION   dead letter
     ├── MissingReferenceError         MISSING_REFERENCE    dead letter
     ├── TransientError                TRANSIENT            retry topic with back-off
     └── PublishError                  TRANSIENT / UNEXPECTED
          └── EventTooLargeError       SCHEMA_VALIDATION    refused before produce

Anything else raised while processing is UNEXPECTED. Errors are data: each carries the
category a dead-letter record is filed under.
"""

from __future__ import annotations

from enum import StrEnum


class Category(StrEnum):
    """Why a record could not be processed; the ``backbone.dlq.category`` header."""

    DESERIALIZATION = "DESERIALIZATION"
    SCHEMA_VALIDATION = "SCHEMA_VALIDATION"
    UNKNOWN_CODE = "UNKNOWN_CODE"
    ILLEGAL_TRANSITION = "ILLEGAL_TRANSITION"
    MISSING_REFERENCE = "MISSING_REFERENCE"
    TRANSIENT = "TRANSIENT"
    UNEXPECTED = "UNEXPECTED"


class BackboneError(Exception):
    """Base of every error backbone classifies."""

    category: Category = Category.UNEXPECTED


class DecodeError(BackboneError):
    """Bytes that are not a valid event for this topic (framing, schema id, Avro, size)."""

    category = Category.DESERIALIZATION


class SchemaValidationError(BackboneError):
    """A well-formed record whose values break the canonical model's rules."""

    category = Category.SCHEMA_VALIDATION


class UnknownCodeError(BackboneError):
    """A source code no mapping table knows; never guessed."""

    category = Category.UNKNOWN_CODE


class IllegalTransitionError(BackboneError):
    """A state change the model forbids."""

    category = Category.ILLEGAL_TRANSITION


class MissingReferenceError(BackboneError):
    """An event that refers to something not (yet) known."""

    category = Category.MISSING_REFERENCE


class TransientError(BackboneError):
    """Worth retrying later: a broker, registry or database that did not answer."""

    category = Category.TRANSIENT


class PublishError(BackboneError):
    """An event Kafka did not acknowledge."""

    category = Category.TRANSIENT


class EventTooLargeError(PublishError):
    """An encoded event over the topic's size limit, refused before produce."""

    category = Category.SCHEMA_VALIDATION


def categorize(error: BaseException) -> Category:
    """The category of any exception: its own, or UNEXPECTED."""
    return error.category if isinstance(error, BackboneError) else Category.UNEXPECTED
