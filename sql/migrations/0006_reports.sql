-- 0006_reports: helpers for the spatial reports of the plan (venues, waters and risky roads
-- near schools; seasons of the drowning-prevention work).

-- Is day d inside the season start..end ('MM-DD' each; both NULL = all year)? A season may
-- wrap the year end ('11-01'..'02-28'). Compares month and day only, so 02-29 works in any
-- year.
CREATE FUNCTION patrolgis_in_season(season_start text, season_end text, d date)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE
        WHEN season_start IS NULL OR season_end IS NULL THEN true
        WHEN season_start <= season_end
            THEN to_char(d, 'MM-DD') BETWEEN season_start AND season_end
        ELSE to_char(d, 'MM-DD') >= season_start OR to_char(d, 'MM-DD') <= season_end
    END
$$;

COMMENT ON FUNCTION patrolgis_in_season(text, text, date) IS
    'true when d falls in the MM-DD season (NULLs: all year; may wrap the year end)';
