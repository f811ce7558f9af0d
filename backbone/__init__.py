"""backbone: canonical Avro events on Apache Kafka for distribution ERP integration.

Importing this package has no side effects; the stages (connectors, producers, processors)
import from here, never the other way round.
"""

__version__ = "0.1.0"
