"""SINK stage: canonical topics out of Kafka into stores analysts query (iceberg/)."""
