-- resolve_operation_id: the full id of the one operation whose id is p_given or starts with it, so
-- that people can shorten an id to any unique prefix (`ktrdr ops show op_training_20261202_1420`).
-- An exact id is looked up by the primary key. A prefix is matched with starts_with, which reads
-- every id (the key's collation need not order prefixes together); that costs a scan, paid only
-- by a person typing a shortened id. When nothing matches, p_given comes back unchanged, so the
-- command it was given to refuses it in its own words (resume's OPERATION_NOT_FOUND …); when
-- several match, 22023 (invalid_parameter_value) names up to five of them.

CREATE OR REPLACE FUNCTION ktrdr.resolve_operation_id(p_given text)
RETURNS text LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_matches text[];
    v_total bigint;
BEGIN
    IF EXISTS (SELECT 1 FROM ktrdr.operations WHERE operation_id = p_given) THEN
        RETURN p_given;
    END IF;
    IF coalesce(p_given, '') = '' THEN
        RAISE EXCEPTION 'an operation id is required' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT array_agg(operation_id ORDER BY operation_id) FILTER (WHERE n <= 5), count(*)
    INTO v_matches, v_total
    FROM (SELECT operation_id, row_number() OVER (ORDER BY operation_id) AS n
          FROM ktrdr.operations WHERE starts_with(operation_id, p_given)) m;
    IF v_total = 0 THEN
        RETURN p_given;
    END IF;
    IF v_total > 1 THEN
        RAISE EXCEPTION '"%" is the start of % operation ids (%): give more of the id',
            p_given, v_total,
            array_to_string(v_matches, ', ') || CASE WHEN v_total > 5 THEN ', …' ELSE '' END
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN v_matches[1];
END $$;
