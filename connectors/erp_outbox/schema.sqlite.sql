-- ERP outbox table for SQLite, the embedded default (demo, quick start). Same columns and
-- meaning as schema.sql (read that file's comments); the differences:
--   seq            INTEGER PRIMARY KEY AUTOINCREMENT: SQLite has a single writer, so insert
--                  order is commit order
--   id, payload    TEXT (payload must be valid JSON)
--   timestamps     ISO-8601 UTC text
--
-- One transaction for the business row and the outbox row, as with PostgreSQL:
--
--   BEGIN IMMEDIATE;
--   UPDATE purchase_order SET status = 'CANCELLED' WHERE po_number = '4500012346';
--   INSERT INTO outbox (id, aggregatetype, aggregateid, type, payload) VALUES (
--          '9b2f8a51-3c44-4e0b-8a55-2d1f6c0a9e01', 'PurchaseOrder', 'ACME-DIST|4500012346',
--          'PurchaseOrderCancelled',
--          '{"buyer": "ACME-DIST", "po_number": "4500012346", "change_sequence": "2"}');
--   COMMIT;

CREATE TABLE IF NOT EXISTS outbox (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    id            TEXT NOT NULL UNIQUE,
    aggregatetype TEXT NOT NULL,
    aggregateid   TEXT NOT NULL,
    type          TEXT NOT NULL,
    payload       TEXT NOT NULL CHECK (json_valid(payload)),
    created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    published_at  TEXT
);

CREATE INDEX IF NOT EXISTS outbox_unpublished ON outbox (seq) WHERE published_at IS NULL;
