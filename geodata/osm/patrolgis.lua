-- geodata/osm/patrolgis.lua: osm2pgsql flex style (osm2pgsql 1.8 API) for patrolgis.
--
-- Extracts from an OSM file what the patrol map needs and writes it into STAGING tables in the
-- schema osm_import (osm2pgsql 1.8 rejects --schema, so the schema is set here; it must exist
-- before osm2pgsql runs). geodata/osm/merge.sql then moves the staging content into the layer
-- tables (schools, stations, waters, roads) in one transaction. geodata/import-osm does both.
--
--   osm_import.schools   amenity=school|kindergarten: nodes (point) and areas (closed ways,
--                        multipolygon relations); kind mapped here (see school_kind)
--   osm_import.stations  amenity=police: nodes (point) and areas
--   osm_import.waters    areas: natural=water, landuse=reservoir|basin, waterway=riverbank;
--                        lines: waterway=river|canal|stream
--   osm_import.roads     drivable highway ways: class, oneway, speed, name and the node id of
--                        every vertex (object.nodes). No geometry here: merge.sql builds the
--                        LineString from the node locations osm2pgsql keeps in its slim
--                        middle table osm_import.planet_osm_nodes (import-osm runs osm2pgsql
--                        with --slim --middle-schema=osm_import), so that node_ids and the
--                        vertices match one to one, whatever the extract looks like.
--
-- Every geometry is EPSG:4326. Tags go to a jsonb column unchanged (UTF-8 byte for byte).
--
-- Environment (read once at start):
--   PATROLGIS_OSM_TRACKS=1   also import highway=track as drivable roads (default: not)
--
-- The tag mapping is documented in geodata/README.md ("Importing OpenStreetMap").

local SCHEMA = 'osm_import'
local SRID = 4326

local with_tracks = (os.getenv('PATROLGIS_OSM_TRACKS') == '1')

-- ---------------------------------------------------------------------------------------------
-- Staging tables
-- ---------------------------------------------------------------------------------------------

local tables = {}

-- osm_type is 'N', 'W' or 'R' (osm2pgsql's type column), osm_id the OSM id of that type.
tables.schools = osm2pgsql.define_table{
    name = 'schools',
    schema = SCHEMA,
    ids = { type = 'any', id_column = 'osm_id', type_column = 'osm_type' },
    columns = {
        { column = 'name', type = 'text' },
        { column = 'kind', type = 'text', not_null = true },
        { column = 'kind_rule', type = 'text', not_null = true },
        { column = 'address', type = 'text' },
        { column = 'tags', type = 'jsonb', not_null = true },
        -- Point for nodes, (Multi)Polygon for areas; NULL when osm2pgsql could not build the
        -- area: a self-intersecting ring (merge.sql rebuilds a closed way from `nodes` and
        -- repairs it) or a broken or incomplete multipolygon (merge.sql skips it)
        { column = 'geom', type = 'geometry', projection = SRID },
        -- closed ways: their node ids, for that rebuild
        { column = 'nodes', sql_type = 'int8[]' },
    },
}

tables.stations = osm2pgsql.define_table{
    name = 'stations',
    schema = SCHEMA,
    ids = { type = 'any', id_column = 'osm_id', type_column = 'osm_type' },
    columns = {
        { column = 'name', type = 'text' },
        { column = 'kind', type = 'text', not_null = true },
        { column = 'phone', type = 'text' },
        { column = 'address', type = 'text' },
        { column = 'tags', type = 'jsonb', not_null = true },
        { column = 'geom', type = 'geometry', projection = SRID },
        { column = 'nodes', sql_type = 'int8[]' },
    },
}

tables.waters = osm2pgsql.define_table{
    name = 'waters',
    schema = SCHEMA,
    ids = { type = 'any', id_column = 'osm_id', type_column = 'osm_type' },
    columns = {
        { column = 'name', type = 'text' },
        -- NULL: a still water without a usable water=* value; merge.sql picks pond or lake by
        -- its area
        { column = 'kind', type = 'text' },
        { column = 'kind_rule', type = 'text', not_null = true },
        { column = 'is_area', type = 'boolean', not_null = true },
        { column = 'tags', type = 'jsonb', not_null = true },
        { column = 'geom', type = 'geometry', projection = SRID },
        { column = 'nodes', sql_type = 'int8[]' },
    },
}

tables.roads = osm2pgsql.define_table{
    name = 'roads',
    schema = SCHEMA,
    ids = { type = 'way', id_column = 'osm_id' },
    columns = {
        { column = 'name', type = 'text' },
        { column = 'class', type = 'text', not_null = true },
        { column = 'oneway', type = 'int2', not_null = true },
        { column = 'speed_kmh', type = 'real', sql_type = 'float8' },
        -- every node id of the way, in order, as OSM has them (duplicates and nodes missing
        -- from the extract included: merge.sql deals with them)
        { column = 'nodes', sql_type = 'int8[]', not_null = true },
        { column = 'tags', type = 'jsonb', not_null = true },
    },
}

-- ---------------------------------------------------------------------------------------------
-- Helpers
-- ---------------------------------------------------------------------------------------------

local function trim(s)
    if s == nil then
        return nil
    end
    s = s:gsub('^%s+', ''):gsub('%s+$', '')
    if s == '' then
        return nil
    end
    return s
end

-- UTF-8 lead bytes 0xE3..0xE9 start U+3000..U+9FFF: CJK punctuation, kana, ideographs.
local function has_cjk(s)
    return s ~= nil and s:find('[\227-\233]') ~= nil
end

-- The display name: the local name tag first (that is what signs and people say), then the
-- Chinese, then the English one. NULL when there is none (merge.sql names it "未命名…").
local function pick_name(tags)
    return trim(tags.name) or trim(tags['name:zh']) or trim(tags['name:zh-Hans'])
        or trim(tags['name:zh-Hant']) or trim(tags['name:en']) or trim(tags.official_name)
end

-- All names of an object, for the kind rules.
local function all_names(tags)
    local parts = {}
    for _, k in ipairs({ 'name', 'official_name', 'alt_name', 'short_name', 'name:zh',
                         'name:zh-Hans', 'name:zh-Hant', 'name:en', 'name:de' }) do
        if tags[k] then
            parts[#parts + 1] = tags[k]
        end
    end
    return table.concat(parts, ' | ')
end

-- One address line from addr:*: addr:full when given; Chinese order (big to small, no
-- separators) when the parts are CJK; otherwise "street housenumber, postcode city".
local function address(tags)
    local full = trim(tags['addr:full'])
    if full then
        return full
    end
    local street = trim(tags['addr:street']) or trim(tags['addr:place'])
    local number = trim(tags['addr:housenumber'])
    local city = trim(tags['addr:city'])
    local district = trim(tags['addr:district'])
    local province = trim(tags['addr:province'])
    local postcode = trim(tags['addr:postcode'])
    if not (street or city or district) then
        return nil
    end
    if has_cjk(street) or has_cjk(city) or has_cjk(district) then
        local s = (province or '') .. (city or '') .. (district or '') .. (street or '')
        if number then
            s = s .. number
        end
        return trim(s)
    end
    local line1 = trim(((street or '') .. ' ' .. (number or '')))
    local line2 = trim(((postcode or '') .. ' ' .. (city or '')))
    if line1 and line2 then
        return line1 .. ', ' .. line2
    end
    return line1 or line2
end

-- Does s contain any of the (plain, case-sensitive) patterns? Latin patterns are matched
-- against a lower-cased copy, so give them in lower case.
local function contains_any(s, patterns)
    local lower = s:lower()
    for _, p in ipairs(patterns) do
        if s:find(p, 1, true) or lower:find(p, 1, true) then
            return p
        end
    end
    return nil
end

-- Numbers in a list value such as "1;2", "2-3", "K-5", "7,8,9".
local function numbers(v)
    local out = {}
    if v then
        for n in v:gmatch('%d+') do
            out[#out + 1] = tonumber(n)
        end
    end
    return out
end

local function max_of(list)
    local m = nil
    for _, v in ipairs(list) do
        if m == nil or v > m then
            m = v
        end
    end
    return m
end

-- ---------------------------------------------------------------------------------------------
-- Schools: kind mapping (first rule that applies wins; the rule goes to props.kind_rule)
-- ---------------------------------------------------------------------------------------------

local CENTRAL_PRIMARY = { '中心小学', '中心小學', '中心國小', '中心国小' }
local TRAINING = { '培训', '培訓', '补习', '補習', '辅导班', '輔導班', '驾校', '駕訓',
                   'musikschule', 'tanzschule', 'sprachschule', 'fahrschule', 'music school',
                   'language school', 'dance school', 'driving school' }
local PRIMARY = { '小学', '小學', '國小', '国小', 'primarschule', 'grundschule', 'volksschule',
                  'primary school', 'elementary school' }
local MIDDLE = { '中学', '中學', '國中', '国中', '初中', '高中', '职业学校', '職業學校', '职校',
                 '職校', '高职', '高職', '中专', '中專', '技校',
                 'sekundarschule', 'gymnasium', 'realschule', 'oberschule', 'hauptschule',
                 'mittelschule', 'oberstufe', 'weiterführende schule', 'kantonsschule',
                 'middle school', 'high school', 'secondary school', 'junior high' }

local function school_kind(tags)
    if tags.amenity == 'kindergarten' then
        return 'kindergarten', 'amenity=kindergarten'
    end
    local names = all_names(tags)
    local p = contains_any(names, CENTRAL_PRIMARY)
    if p then
        return 'central_primary', 'name:' .. p
    end
    p = contains_any(names, TRAINING)
    if p then
        return 'training', 'name:' .. p
    end
    p = contains_any(names, PRIMARY)
    if p then
        return 'primary', 'name:' .. p
    end
    p = contains_any(names, MIDDLE)
    if p then
        return 'middle', 'name:' .. p
    end
    -- ISCED 2011: 0 pre-primary, 1 primary, 2 lower secondary, 3 upper secondary, ...
    local isced = numbers(tags['isced:level'])
    if #isced > 0 then
        local top = max_of(isced)
        if top >= 2 then
            return 'middle', 'isced:level=' .. tags['isced:level']
        elseif top == 0 then
            return 'kindergarten', 'isced:level=' .. tags['isced:level']
        end
        return 'primary', 'isced:level=' .. tags['isced:level']
    end
    -- grades=1-6 (primary), 7-9 / 7-12 (secondary)
    local grades = numbers(tags.grades)
    if #grades > 0 then
        if max_of(grades) >= 7 then
            return 'middle', 'grades=' .. tags.grades
        end
        return 'primary', 'grades=' .. tags.grades
    end
    return 'primary', 'default'
end

-- ---------------------------------------------------------------------------------------------
-- Police: a 警务室 / 警务站 / 岗亭 is a patrol base, everything else a police station
-- ---------------------------------------------------------------------------------------------

local PATROL_BASE = { '警务室', '警務室', '警务站', '警務站', '警亭', '岗亭', '崗亭', '治安亭',
                      '巡逻', '巡邏', 'polizeiposten' }

local function station_kind(tags)
    if contains_any(all_names(tags), PATROL_BASE) then
        return 'patrol_base'
    end
    return 'police_station'
end

-- ---------------------------------------------------------------------------------------------
-- Waters
-- ---------------------------------------------------------------------------------------------

-- water=* (and the legacy values) of a natural=water area -> waters.kind
local WATER_KIND = {
    pond = 'pond', fishpond = 'pond', basin = 'pond', stream_pool = 'pond',
    lake = 'lake', lagoon = 'lake', oxbow = 'lake',
    reservoir = 'reservoir',
    river = 'river',
    stream = 'stream',
    canal = 'canal', ditch = 'canal', moat = 'canal', lock = 'canal',
    wastewater = 'other', reflecting_pool = 'other',
}

-- Names that say what a still water is when water=* does not.
local NAME_WATER_KIND = {
    { '水库', 'reservoir' }, { '水庫', 'reservoir' }, { 'stausee', 'reservoir' },
    { 'speicher', 'reservoir' }, { '塘', 'pond' }, { 'weiher', 'pond' }, { 'teich', 'pond' },
    { '湖', 'lake' }, { '渠', 'canal' }, { '河', 'river' },
    { '江', 'river' }, { '溪', 'stream' },
}

local function water_area_kind(tags)
    if tags.landuse == 'reservoir' then
        return 'reservoir', 'landuse=reservoir'
    end
    if tags.landuse == 'basin' then
        return 'pond', 'landuse=basin'
    end
    if tags.waterway == 'riverbank' then
        return 'river', 'waterway=riverbank'
    end
    local w = tags.water
    if w and WATER_KIND[w] then
        return WATER_KIND[w], 'water=' .. w
    end
    local names = all_names(tags)
    for _, pair in ipairs(NAME_WATER_KIND) do
        if contains_any(names, { pair[1] }) then
            return pair[2], 'name:' .. pair[1]
        end
    end
    return nil, 'area' -- merge.sql: pond below 1 ha, lake from 1 ha
end

local function is_water_area(tags)
    return tags.natural == 'water' or tags.landuse == 'reservoir' or tags.landuse == 'basin'
        or tags.waterway == 'riverbank'
end

local WATERWAY_LINE = { river = 'river', canal = 'canal', stream = 'stream' }

-- ---------------------------------------------------------------------------------------------
-- Roads
-- ---------------------------------------------------------------------------------------------

local DRIVABLE = {
    motorway = true, trunk = true, primary = true, secondary = true, tertiary = true,
    unclassified = true, residential = true, living_street = true, service = true,
    motorway_link = true, trunk_link = true, primary_link = true, secondary_link = true,
    tertiary_link = true,
}
if with_tracks then
    DRIVABLE.track = true
end

-- The most specific access tag for a car decides; "no" keeps the way out of the network.
local function closed_to_cars(tags)
    for _, k in ipairs({ 'motorcar', 'motor_vehicle', 'vehicle', 'access' }) do
        local v = tags[k]
        if v then
            return v == 'no'
        end
    end
    return false
end

-- 1 forward, -1 backward, 0 both ways.
local ONEWAY = { yes = 1, ['1'] = 1, ['true'] = 1, ['-1'] = -1, reverse = -1,
                 no = 0, ['0'] = 0, ['false'] = 0 }

local function oneway(tags)
    for _, k in ipairs({ 'oneway:motorcar', 'oneway:motor_vehicle', 'oneway:vehicle',
                         'oneway' }) do
        local v = tags[k]
        if v then
            local o = ONEWAY[v]
            if o ~= nil then
                return o
            end
            -- reversible / alternating and unknown values: open both ways
            return 0
        end
    end
    if tags.junction == 'roundabout' or tags.junction == 'circular'
        or tags.highway == 'motorway' then
        return 1
    end
    return 0
end

-- maxspeed -> km/h: "50", "50 km/h", "50kmh", "50 kph", "30 mph", "10 knots". Anything else
-- ("CH:urban", "DE:zone30", "walk", "none", "signals", "50;30") -> NULL (class default).
local function maxspeed(v)
    v = trim(v)
    if v == nil then
        return nil
    end
    local num, unit = v:match('^(%d+%.?%d*)%s*(%a*/?%a*)$')
    if num == nil then
        return nil
    end
    local n = tonumber(num)
    if n == nil then
        return nil
    end
    unit = unit:lower()
    if unit == '' or unit == 'km/h' or unit == 'kmh' or unit == 'kph' then
        -- as is
    elseif unit == 'mph' then
        n = n * 1.609344
    elseif unit == 'knots' then
        n = n * 1.852
    else
        return nil
    end
    if n <= 0 or n > 200 then
        return nil
    end
    return n
end

-- ---------------------------------------------------------------------------------------------
-- Processing
-- ---------------------------------------------------------------------------------------------

-- The node ids of a closed way as an int8[] literal (nil for anything else).
local function ring_nodes(object, area)
    if area and object.nodes then
        return '{' .. table.concat(object.nodes, ',') .. '}'
    end
    return nil
end

local function insert_school(object, geom, nodes)
    local kind, rule = school_kind(object.tags)
    tables.schools:insert({
        name = pick_name(object.tags),
        kind = kind,
        kind_rule = rule,
        address = address(object.tags),
        tags = object.tags,
        geom = geom,
        nodes = nodes,
    })
end

local function insert_station(object, geom, nodes)
    tables.stations:insert({
        name = pick_name(object.tags),
        kind = station_kind(object.tags),
        phone = trim(object.tags.phone) or trim(object.tags['contact:phone']),
        address = address(object.tags),
        tags = object.tags,
        geom = geom,
        nodes = nodes,
    })
end

local function is_school(tags)
    return tags.amenity == 'school' or tags.amenity == 'kindergarten'
end

function osm2pgsql.process_node(object)
    local tags = object.tags
    if is_school(tags) then
        insert_school(object, object:as_point())
    elseif tags.amenity == 'police' then
        insert_station(object, object:as_point())
    end
end

function osm2pgsql.process_way(object)
    local tags = object.tags
    local area = object.is_closed and tags.area ~= 'no'

    if is_school(tags) then
        -- an unclosed school way has no area: geom NULL, counted as skipped by merge.sql
        insert_school(object, area and object:as_polygon() or nil, ring_nodes(object, area))
    elseif tags.amenity == 'police' then
        insert_station(object, area and object:as_polygon() or object:as_linestring(),
                       ring_nodes(object, area))
    end

    if is_water_area(tags) and area then
        local kind, rule = water_area_kind(tags)
        tables.waters:insert({
            name = pick_name(tags), kind = kind, kind_rule = rule, is_area = true,
            tags = tags, geom = object:as_polygon(), nodes = ring_nodes(object, area),
        })
    elseif WATERWAY_LINE[tags.waterway] then
        tables.waters:insert({
            name = pick_name(tags), kind = WATERWAY_LINE[tags.waterway],
            kind_rule = 'waterway=' .. tags.waterway, is_area = false,
            tags = tags, geom = object:as_linestring(),
        })
    end

    local hw = tags.highway
    if hw and DRIVABLE[hw] and tags.area ~= 'yes' and not closed_to_cars(tags) then
        tables.roads:insert({
            name = trim(tags.name) or trim(tags['name:zh']) or trim(tags.ref),
            class = hw,
            oneway = oneway(tags),
            speed_kmh = maxspeed(tags.maxspeed),
            nodes = '{' .. table.concat(object.nodes, ',') .. '}',
            tags = tags,
        })
    end
end

function osm2pgsql.process_relation(object)
    local tags = object.tags
    if tags.type ~= 'multipolygon' then
        return
    end
    if is_school(tags) then
        insert_school(object, object:as_multipolygon())
    elseif tags.amenity == 'police' then
        insert_station(object, object:as_multipolygon())
    end
    if is_water_area(tags) then
        local kind, rule = water_area_kind(tags)
        tables.waters:insert({
            name = pick_name(tags), kind = kind, kind_rule = rule, is_area = true,
            tags = tags, geom = object:as_multipolygon(),
        })
    end
end
