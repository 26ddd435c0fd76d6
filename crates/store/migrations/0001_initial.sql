-- ctibridge store, schema 1.
-- All timestamps are INTEGER milliseconds since the Unix epoch (UTC): they compare and index
-- as numbers, which text timestamps with a varying number of fraction digits do not.
-- JSON columns hold serde_json output; CHECKs catch hand edits that would break decoding.

-- Facts about the store itself (e.g. the check value that proves secret.key is the right one).
CREATE TABLE store_meta (
    name  TEXT PRIMARY KEY NOT NULL,
    value BLOB NOT NULL
) WITHOUT ROWID;

-- One row per [[instance]]: a Salesforce org and the STARFACE users/groups it serves.
-- AUTOINCREMENT so that an id is never reused: rows that name an instance by id without a
-- foreign key (credentials) can never fall to a later instance.
CREATE TABLE instances (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL UNIQUE CHECK (length(trim(name)) > 0),
    description TEXT    NOT NULL DEFAULT '',
    settings    TEXT    NOT NULL DEFAULT '{}'
                CHECK (json_valid(settings) AND json_type(settings) = 'object'),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

-- Which Salesforce user a STARFACE user is, per instance. `auto` rows come from matching
-- e-mails; `manual` rows are an admin's override, which automatic matching never replaces.
CREATE TABLE user_links (
    id                 INTEGER PRIMARY KEY,
    instance_id        INTEGER NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    starface_user_id   TEXT    NOT NULL CHECK (length(starface_user_id) > 0),
    starface_login_id  TEXT    NOT NULL CHECK (length(starface_login_id) > 0),
    email              TEXT    COLLATE NOCASE,
    salesforce_user_id TEXT    CHECK (salesforce_user_id IS NULL OR length(salesforce_user_id) > 0),
    source             TEXT    NOT NULL CHECK (source IN ('auto', 'manual')),
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    UNIQUE (instance_id, starface_user_id),
    UNIQUE (instance_id, starface_login_id)
);
-- A panel signs in as a Salesforce user and must land on exactly one STARFACE user.
CREATE UNIQUE INDEX user_links_salesforce_user
    ON user_links (instance_id, salesforce_user_id) WHERE salesforce_user_id IS NOT NULL;
CREATE INDEX user_links_email ON user_links (instance_id, email);

-- Settings a user makes in the panel, per STARFACE user (they follow the person, not the org).
CREATE TABLE user_settings (
    starface_user_id        TEXT    PRIMARY KEY NOT NULL CHECK (length(starface_user_id) > 0),
    auto_open_record        INTEGER NOT NULL CHECK (auto_open_record IN (0, 1)),
    create_unknown_inbound  INTEGER NOT NULL CHECK (create_unknown_inbound IN (0, 1)),
    create_unknown_outbound INTEGER NOT NULL CHECK (create_unknown_outbound IN (0, 1)),
    phone_id                TEXT    CHECK (phone_id IS NULL OR length(phone_id) > 0),
    language                TEXT    CHECK (language IS NULL OR length(language) > 0),
    updated_at              INTEGER NOT NULL
) WITHOUT ROWID;

-- Secrets, AES-256-GCM encrypted with secret.key. The associated data binds each ciphertext to
-- its (owner_kind, owner_id, purpose), so a ciphertext copied into another row fails to decrypt.
CREATE TABLE credentials (
    owner_kind TEXT    NOT NULL CHECK (owner_kind IN ('system', 'instance', 'starface_user')),
    owner_id   TEXT    NOT NULL,
    purpose    TEXT    NOT NULL CHECK (length(purpose) BETWEEN 1 AND 64),
    scheme     INTEGER NOT NULL CHECK (scheme = 1),
    nonce      BLOB    NOT NULL CHECK (length(nonce) = 12),
    ciphertext BLOB    NOT NULL CHECK (length(ciphertext) >= 16),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (owner_kind, owner_id, purpose)
) WITHOUT ROWID;

-- Where each sync of an instance's object stands, so that a restart resumes.
CREATE TABLE sync_watermarks (
    instance_id         INTEGER NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    object_type         TEXT    NOT NULL CHECK (length(object_type) > 0),
    last_full_at        INTEGER,
    last_incremental_at INTEGER,
    watermark           INTEGER,
    state               TEXT    NOT NULL DEFAULT '{}'
                        CHECK (json_valid(state) AND json_type(state) = 'object'),
    updated_at          INTEGER NOT NULL,
    PRIMARY KEY (instance_id, object_type)
) WITHOUT ROWID;

-- Local copy of the Salesforce records in scope: the phone index loads from here at start.
-- A rowid table (not WITHOUT ROWID) because rows carry JSON of a few hundred bytes and more.
-- No json_valid CHECK on the hot path: only serde_json writes these columns.
CREATE TABLE records (
    id              INTEGER PRIMARY KEY,
    instance_id     INTEGER NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    object_type     TEXT    NOT NULL CHECK (length(object_type) > 0),
    sf_id           TEXT    NOT NULL CHECK (length(sf_id) > 0),
    name            TEXT    NOT NULL DEFAULT '',
    fields          TEXT    NOT NULL DEFAULT '{}',
    phones          TEXT    NOT NULL DEFAULT '[]',
    system_modstamp INTEGER,
    deleted         INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    updated_at      INTEGER NOT NULL,
    UNIQUE (instance_id, object_type, sf_id)
);
CREATE INDEX records_deleted ON records (instance_id, updated_at) WHERE deleted = 1;

-- Salesforce record <-> STARFACE address-book contact, and the hash of what was last exported,
-- so that an export run twice changes nothing. No foreign key to records: a link must outlive
-- its record long enough to delete the STARFACE contact.
CREATE TABLE contact_links (
    instance_id         INTEGER NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    sf_id               TEXT    NOT NULL CHECK (length(sf_id) > 0),
    starface_contact_id TEXT    NOT NULL CHECK (length(starface_contact_id) > 0),
    exported_hash       TEXT    NOT NULL,
    exported_at         INTEGER NOT NULL,
    PRIMARY KEY (instance_id, sf_id),
    UNIQUE (instance_id, starface_contact_id)
) WITHOUT ROWID;

-- Durable queue of writes to Salesforce. The idempotency key makes enqueueing safe to repeat;
-- a claim sets a lease so that work of a crashed worker becomes claimable again when it ends,
-- and a lease token so that a worker whose lease ran out cannot finish a row someone else took.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT    NOT NULL UNIQUE CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    instance_id     INTEGER NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    kind            TEXT    NOT NULL CHECK (length(kind) > 0),
    payload         TEXT    NOT NULL CHECK (json_valid(payload)),
    state           TEXT    NOT NULL CHECK (state IN ('pending', 'in_flight', 'done', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at INTEGER NOT NULL,
    lease_token     TEXT,
    lease_until     INTEGER,
    last_error      TEXT,
    result          TEXT    CHECK (result IS NULL OR json_valid(result)),
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    CHECK ((state = 'in_flight') = (lease_token IS NOT NULL AND lease_until IS NOT NULL))
);
CREATE INDEX outbox_pending_due ON outbox (next_attempt_at) WHERE state = 'pending';
CREATE INDEX outbox_lease_expiry ON outbox (lease_until) WHERE state = 'in_flight';
CREATE INDEX outbox_instance_state ON outbox (instance_id, state);
