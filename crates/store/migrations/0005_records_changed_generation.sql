-- A start takes index and cards from a snapshot file taken at some generation (0004) and
-- brings it up to date with the rows changed since, instead of reading a million rows
-- because a crash left a few thousand changes unsaved. For that every row notes the
-- generation at which it last changed, and every instance the generation of its last hard
-- delete: a row that is gone leaves nothing to read, so a snapshot older than that delete
-- cannot be brought up to date and is refused.
--
-- Rows that exist now get 0 and every instance's last hard delete is set to its generation
-- now. A snapshot taken at exactly this generation (the state it was taken of) stays usable
-- with nothing to apply; one taken earlier would need rows whose change we cannot date, and
-- 0 would hide them from the delta, so it is refused (hard delete = generation now): the
-- first start after the upgrade reads the record cache once, as it did before.
ALTER TABLE records ADD COLUMN changed_generation INTEGER NOT NULL DEFAULT 0;
ALTER TABLE records_generation ADD COLUMN hard_deleted INTEGER NOT NULL DEFAULT 0;
UPDATE records_generation SET hard_deleted = generation;

-- The delta is read in this order, a batch at a time, without a sort.
CREATE INDEX records_changed ON records (instance_id, changed_generation);

-- The triggers of 0004, now also noting the generation in the changed row. Each one bumps
-- the counter once per row (FOR EACH ROW), so a row's changed_generation is unique within
-- its instance. The UPDATE of the row's own changed_generation fires the update trigger
-- again (the insert trigger's, always; its own, if recursive_triggers were on): the WHEN
-- clause lets through only updates that leave changed_generation alone, i.e. every write
-- but these, so nothing is counted twice and nothing loops.
DROP TRIGGER records_generation_insert;
DROP TRIGGER records_generation_update;
DROP TRIGGER records_generation_delete;

CREATE TRIGGER records_generation_insert AFTER INSERT ON records
BEGIN
    INSERT INTO records_generation (instance_id, generation)
        SELECT NEW.instance_id, 0 WHERE NOT EXISTS
            (SELECT 1 FROM records_generation WHERE instance_id = NEW.instance_id);
    UPDATE records_generation SET generation = generation + 1 WHERE instance_id = NEW.instance_id;
    UPDATE records SET changed_generation =
        (SELECT generation FROM records_generation WHERE instance_id = NEW.instance_id)
        WHERE id = NEW.id;
END;

CREATE TRIGGER records_generation_update AFTER UPDATE ON records
    WHEN NEW.changed_generation IS OLD.changed_generation
BEGIN
    INSERT INTO records_generation (instance_id, generation)
        SELECT NEW.instance_id, 0 WHERE NOT EXISTS
            (SELECT 1 FROM records_generation WHERE instance_id = NEW.instance_id);
    UPDATE records_generation SET generation = generation + 1 WHERE instance_id = NEW.instance_id;
    -- A row moved to another instance is gone from the first one, as if deleted.
    UPDATE records_generation SET generation = generation + 1, hard_deleted = generation + 1
        WHERE instance_id = OLD.instance_id AND OLD.instance_id <> NEW.instance_id;
    UPDATE records SET changed_generation =
        (SELECT generation FROM records_generation WHERE instance_id = NEW.instance_id)
        WHERE id = NEW.id;
END;

CREATE TRIGGER records_generation_delete AFTER DELETE ON records
BEGIN
    UPDATE records_generation SET generation = generation + 1, hard_deleted = generation + 1
        WHERE instance_id = OLD.instance_id;
END;
