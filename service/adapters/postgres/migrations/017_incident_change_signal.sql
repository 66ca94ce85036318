-- A change signal for open console pages, whichever replica (or worker) wrote the change: every new
-- timeline event and every delivery status change NOTIFYs the incident's id on `incidentd_incident`.
-- NOTIFY is delivered at commit, so a listener never sees a change that was rolled back.

CREATE FUNCTION incidentd_signal_incident() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.incident_id IS NOT NULL THEN
        PERFORM pg_notify('incidentd_incident', NEW.incident_id::text);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER incident_events_signal AFTER INSERT ON incident_events
    FOR EACH ROW EXECUTE FUNCTION incidentd_signal_incident();
CREATE TRIGGER notification_outbox_signal_new AFTER INSERT ON notification_outbox
    FOR EACH ROW EXECUTE FUNCTION incidentd_signal_incident();
CREATE TRIGGER notification_outbox_signal_status AFTER UPDATE OF status ON notification_outbox
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION incidentd_signal_incident();
-- Only real transitions of alerts already attached: evaluation rewrites rows every interval.
CREATE TRIGGER alert_states_signal AFTER UPDATE OF status ON alert_states
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status AND NEW.incident_id IS NOT NULL)
    EXECUTE FUNCTION incidentd_signal_incident();
