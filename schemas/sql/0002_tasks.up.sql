-- 0002 tasks: the durable task queue and each task's event log (SSE,
-- resumable by sequence number).
CREATE TABLE tasks (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    owner        uuid NOT NULL,
    agent        text NOT NULL,
    input        text NOT NULL,
    document_ids uuid[] NOT NULL DEFAULT '{}',
    state        text NOT NULL DEFAULT 'queued'
                 CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    result       jsonb,
    error        text,
    steps        jsonb NOT NULL DEFAULT '[]'::jsonb,
    attempts     integer NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL DEFAULT now(),
    started_at   timestamptz,
    finished_at  timestamptz,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tasks_owner ON tasks (owner, created_at DESC);
CREATE INDEX tasks_open ON tasks (state) WHERE state IN ('queued', 'running');

CREATE TABLE task_events (
    id      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    task_id uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    seq     integer NOT NULL,
    kind    text NOT NULL,
    data    jsonb NOT NULL DEFAULT '{}'::jsonb,
    at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (task_id, seq)
);
