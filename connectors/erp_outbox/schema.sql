-- ERP outbox table for PostgreSQL (the SQLite variant is schema.sqlite.sql).
--
-- Debezium outbox field conventions (id, aggregatetype, aggregateid, type, payload), so a team
-- can switch between this relay and Debezium's outbox event router either way:
--   id             UUID of the outbox row; the event's idempotency key is <instance>:outbox:<id>
--   aggregatetype  what changed: PurchaseOrder | Stock (connectors/erp_outbox/README.md)
--   aggregateid    which one: <buyer>|<po_number> for orders, <sku>@<location> for stock
--   type           what happened: PurchaseOrderCreated | PurchaseOrderChanged |
--                  PurchaseOrderReplaced | PurchaseOrderCancelled | StockSnapshot
--   payload        the business data as JSON (documented in the README)
-- plus two columns of this relay:
--   seq            commit order: the relay publishes in seq order, and the ERP's own row lock
--                  on the aggregate (the purchase order row) serializes the transactions of one
--                  aggregate, so seq order is commit order per aggregate
--   created_at     when the ERP wrote the row (the event's occurred_at unless the payload
--                  gives one)
--   published_at   set by the relay, in the same transaction that claimed the row, after
--                  Kafka acknowledged its event; NULL means "still to publish"
--
-- The ERP writes its business rows and the outbox row in ONE transaction, so an event exists
-- exactly when the change it describes was committed:
--
--   BEGIN;
--   UPDATE purchase_order SET status = 'CANCELLED' WHERE buyer = 'ACME-DIST'
--          AND po_number = '4500012346';                      -- locks the aggregate
--   INSERT INTO outbox (id, aggregatetype, aggregateid, type, payload) VALUES (
--          gen_random_uuid(), 'PurchaseOrder', 'ACME-DIST|4500012346', 'PurchaseOrderCancelled',
--          '{"buyer": "ACME-DIST", "po_number": "4500012346", "change_sequence": "2"}');
--   COMMIT;
--
-- Published rows can be deleted at any time (e.g. nightly: DELETE FROM outbox WHERE
-- published_at < now() - interval '7 days').

CREATE TABLE IF NOT EXISTS outbox (
    seq           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id            UUID         NOT NULL UNIQUE,
    aggregatetype VARCHAR(255) NOT NULL,
    aggregateid   VARCHAR(255) NOT NULL,
    type          VARCHAR(255) NOT NULL,
    payload       JSONB        NOT NULL,
    created_at    TIMESTAMPTZ  NOT NULL DEFAULT now(),
    published_at  TIMESTAMPTZ
);

-- The relay's queue: only unpublished rows, in seq order.
CREATE INDEX IF NOT EXISTS outbox_unpublished ON outbox (seq) WHERE published_at IS NULL;
