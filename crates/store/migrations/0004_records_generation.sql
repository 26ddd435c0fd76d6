-- A counter per instance that every change of its cached records moves on. A start may take
-- index and cards from a snapshot file instead of reading a million rows, but only while the
-- records are what the snapshot was taken from: same generation. Triggers keep the count, so
-- that no write path (now or later) can change records without it. (No INSERT OR IGNORE in
-- the triggers: the conflict clause of the statement that fires them, the records upsert,
-- would override it.)
CREATE TABLE records_generation (
    instance_id INTEGER PRIMARY KEY REFERENCES instances (id) ON DELETE CASCADE,
    generation INTEGER NOT NULL
);

CREATE TRIGGER records_generation_insert AFTER INSERT ON records
BEGIN
    INSERT INTO records_generation (instance_id, generation)
        SELECT NEW.instance_id, 0 WHERE NOT EXISTS
            (SELECT 1 FROM records_generation WHERE instance_id = NEW.instance_id);
    UPDATE records_generation SET generation = generation + 1 WHERE instance_id = NEW.instance_id;
END;

CREATE TRIGGER records_generation_update AFTER UPDATE ON records
BEGIN
    INSERT INTO records_generation (instance_id, generation)
        SELECT NEW.instance_id, 0 WHERE NOT EXISTS
            (SELECT 1 FROM records_generation WHERE instance_id = NEW.instance_id);
    UPDATE records_generation SET generation = generation + 1 WHERE instance_id = NEW.instance_id;
    UPDATE records_generation SET generation = generation + 1
        WHERE instance_id = OLD.instance_id AND OLD.instance_id <> NEW.instance_id;
END;

CREATE TRIGGER records_generation_delete AFTER DELETE ON records
BEGIN
    UPDATE records_generation SET generation = generation + 1 WHERE instance_id = OLD.instance_id;
END;
