"""PUBLISH stage: the only code that writes canonical events to Kafka."""

from producers.publisher import Delivery, EventPublisher, PublishHooks

__all__ = ["Delivery", "EventPublisher", "PublishHooks"]
