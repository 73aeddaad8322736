#!/usr/bin/env python3
"""Generate the demo town 青石镇 (Qingshi Town) as SQL for patrolgis.

The town is fictional. It is laid out here in local metres (x east, y north) around an origin in
the hills of Hunan (lon 112.9, lat 28.1) and converted to WGS84 lon/lat (SRID 4326) with the
local metres-per-degree at the origin latitude. Everything is deterministic: no randomness, no
external data, so two runs print byte-identical SQL.

Usage:
    demo_town.py [OUT.sql]      write the SQL to OUT.sql (default: stdout)
    demo_town.py --report       print a summary (counts, drive times) instead of SQL

The SQL expects the schema of docs/data-model.md. It deletes the previous demo rows (children
first) and inserts the town again; demo rows carry props->>'demo' = 'true' in every table and
roads also source = 'demo'. It does not BEGIN/COMMIT itself: run it with
`psql --single-transaction` (geodata/load-demo does).

Before printing anything the generator checks its own geometry (see check_town()): valid
rings, gates on their school perimeter and near a road, roads that touch only at shared
junction vertices and never cross, hazards and venues that do not sit on roads or inside
schools, a strongly connected road graph. A failed check is a bug in this file: it exits 1.
"""

import heapq
import json
import math
import sys

# ------------------------------------------------------------------------------------------------
# Frame: local metres <-> lon/lat
# ------------------------------------------------------------------------------------------------

LON0 = 112.9
LAT0 = 28.1
_PHI = math.radians(LAT0)
# metres per degree at LAT0 (series for the WGS84 ellipsoid)
M_PER_DEG_LAT = (111132.92 - 559.82 * math.cos(2 * _PHI) + 1.175 * math.cos(4 * _PHI)
                 - 0.0023 * math.cos(6 * _PHI))
M_PER_DEG_LON = (111412.84 * math.cos(_PHI) - 93.5 * math.cos(3 * _PHI)
                 + 0.118 * math.cos(5 * _PHI))

DEMO_NODE_BASE = 9_000_000_000_000  # synthetic road node ids: far above OSM's, JS-safe
SEASON = ("05-01", "10-31")  # drowning season (plan section 三)

# speed per road class, km/h (urban/rural Chinese roads; hill roads are slow)
CLASS_SPEED = {
    "primary": 60.0,
    "secondary": 50.0,
    "tertiary": 40.0,
    "residential": 30.0,
    "unclassified": 30.0,
    "service": 20.0,
    "track": 15.0,
}


def lonlat(p):
    """Local metres -> (lon, lat) rounded to 7 decimals (about 1 cm)."""
    x, y = p
    return (round(LON0 + x / M_PER_DEG_LON, 7), round(LAT0 + y / M_PER_DEG_LAT, 7))


def fmt(p):
    lon, lat = lonlat(p)
    return "%.7f %.7f" % (lon, lat)


# ------------------------------------------------------------------------------------------------
# Plane geometry helpers (local metres)
# ------------------------------------------------------------------------------------------------


def dist(a, b):
    return math.hypot(a[0] - b[0], a[1] - b[1])


def seg_point_dist(p, a, b):
    ax, ay = a
    bx, by = b
    dx, dy = bx - ax, by - ay
    l2 = dx * dx + dy * dy
    t = 0.0 if l2 == 0 else max(0.0, min(1.0, ((p[0] - ax) * dx + (p[1] - ay) * dy) / l2))
    return math.hypot(p[0] - (ax + t * dx), p[1] - (ay + t * dy))


def project_on_segment(p, a, b):
    ax, ay = a
    bx, by = b
    dx, dy = bx - ax, by - ay
    l2 = dx * dx + dy * dy
    t = max(0.0, min(1.0, ((p[0] - ax) * dx + (p[1] - ay) * dy) / l2))
    return (ax + t * dx, ay + t * dy)


def polyline_point_dist(p, pts):
    return min(seg_point_dist(p, pts[i], pts[i + 1]) for i in range(len(pts) - 1))


def _orient(a, b, c):
    v = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
    return 0 if abs(v) < 1e-9 else (1 if v > 0 else -1)


def segments_intersect(p1, p2, q1, q2):
    """True when the closed segments p1p2 and q1q2 share a point."""
    o1, o2 = _orient(p1, p2, q1), _orient(p1, p2, q2)
    o3, o4 = _orient(q1, q2, p1), _orient(q1, q2, p2)
    if o1 != o2 and o3 != o4:
        return True

    def on(a, b, c):
        return (min(a[0], b[0]) - 1e-9 <= c[0] <= max(a[0], b[0]) + 1e-9
                and min(a[1], b[1]) - 1e-9 <= c[1] <= max(a[1], b[1]) + 1e-9)

    return ((o1 == 0 and on(p1, p2, q1)) or (o2 == 0 and on(p1, p2, q2))
            or (o3 == 0 and on(q1, q2, p1)) or (o4 == 0 and on(q1, q2, p2)))


def polylines_cross(a, b):
    for i in range(len(a) - 1):
        for j in range(len(b) - 1):
            if segments_intersect(a[i], a[i + 1], b[j], b[j + 1]):
                return True
    return False


def polylines_min_dist(a, b):
    d = min(polyline_point_dist(p, b) for p in a)
    return min(d, min(polyline_point_dist(p, a) for p in b))


def point_in_ring(p, ring):
    x, y = p
    inside = False
    n = len(ring) - 1
    for i in range(n):
        (x1, y1), (x2, y2) = ring[i], ring[i + 1]
        if (y1 > y) != (y2 > y):
            xi = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
            if xi > x:
                inside = not inside
    return inside


def ring_area(ring):
    return 0.5 * sum(ring[i][0] * ring[i + 1][1] - ring[i + 1][0] * ring[i][1]
                     for i in range(len(ring) - 1))


def ring_is_simple(ring):
    n = len(ring) - 1
    for i in range(n):
        for j in range(i + 1, n):
            if j == i + 1 or (i == 0 and j == n - 1):
                continue  # neighbouring edges share a vertex
            if segments_intersect(ring[i], ring[i + 1], ring[j], ring[j + 1]):
                return False
    return True


def close(pts):
    pts = list(pts)
    if pts[0] != pts[-1]:
        pts.append(pts[0])
    return pts


def ccw(ring):
    return ring if ring_area(ring) > 0 else list(reversed(ring))


def rect(x0, y0, x1, y1, angle_deg=0.0):
    """Axis-aligned rectangle [x0,x1]x[y0,y1], optionally turned about its centre; CCW ring."""
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    a = math.radians(angle_deg)
    ca, sa = math.cos(a), math.sin(a)
    out = []
    for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1)):
        dx, dy = x - cx, y - cy
        out.append((round(cx + dx * ca - dy * sa, 2), round(cy + dx * sa + dy * ca, 2)))
    return ccw(close(out))


def blob(cx, cy, rx, ry, n, wobble, phase, angle_deg=0.0):
    """An irregular, deterministic closed shape (pond, reservoir): a wobbly ellipse."""
    a = math.radians(angle_deg)
    ca, sa = math.cos(a), math.sin(a)
    pts = []
    for i in range(n):
        t = 2 * math.pi * i / n
        k = 1 + wobble * math.sin(3 * t + phase) + 0.5 * wobble * math.cos(5 * t + 2 * phase)
        x, y = rx * k * math.cos(t), ry * k * math.sin(t)
        pts.append((round(cx + x * ca - y * sa, 2), round(cy + x * sa + y * ca, 2)))
    return ccw(close(pts))


def chaikin(pts, iterations):
    """Corner cutting; keeps both end points, so junctions stay where they are."""
    for _ in range(iterations):
        out = [pts[0]]
        for i in range(len(pts) - 1):
            (x0, y0), (x1, y1) = pts[i], pts[i + 1]
            q = (0.75 * x0 + 0.25 * x1, 0.75 * y0 + 0.25 * y1)
            r = (0.25 * x0 + 0.75 * x1, 0.25 * y0 + 0.75 * y1)
            if i > 0:
                out.append(q)
            if i < len(pts) - 2:
                out.append(r)
        out.append(pts[-1])
        pts = out
    return [(round(x, 2), round(y, 2)) for x, y in pts]


def polyline_length(pts):
    return sum(dist(pts[i], pts[i + 1]) for i in range(len(pts) - 1))


def sub_polyline(pts, f0, f1):
    """The part of a polyline between fractions f0 < f1 of its length (ends interpolated)."""
    total = polyline_length(pts)
    a, b = f0 * total, f1 * total
    out = []
    run = 0.0
    for i in range(len(pts) - 1):
        p, q = pts[i], pts[i + 1]
        seg = dist(p, q)
        s0, s1 = run, run + seg
        if s1 >= a and s0 <= b and seg > 0:
            t0 = max(0.0, (a - s0) / seg)
            t1 = min(1.0, (b - s0) / seg)
            pa = (p[0] + t0 * (q[0] - p[0]), p[1] + t0 * (q[1] - p[1]))
            pb = (p[0] + t1 * (q[0] - p[0]), p[1] + t1 * (q[1] - p[1]))
            if not out or dist(out[-1], pa) > 1e-6:
                out.append(pa)
            out.append(pb)
        run = s1
    return [(round(x, 2), round(y, 2)) for x, y in out]


# ------------------------------------------------------------------------------------------------
# The town
# ------------------------------------------------------------------------------------------------

# Named road nodes: junctions and dead ends. Roads meet only here (shared vertex, shared id).
NODES = {
    # S208 / 青石大道 (west to east)
    "A0": (-3950, -180), "A1": (-3400, -80), "A3": (-1700, 0), "A4": (-900, 0),
    "A5": (-300, 0), "A6": (300, 0), "A7": (900, 0), "A8": (1200, 0), "A9": (1800, 0),
    "A10": (2600, 30), "A11": (3950, 260),
    # 河滨路 along the south bank of 青石河
    "R0": (-1500, 430), "R1": (-900, 430), "R2": (-300, 440), "R3": (300, 450),
    "R4": (900, 420), "R5": (1500, 450),
    # mid-block lanes
    "B1": (-900, 250), "B2": (-300, 250), "C1": (300, 250), "C2": (900, 250),
    "X1": (-300, -250), "X2": (300, -250),
    # 南街 and 文昌路
    "S1": (-900, -500), "S2": (-300, -500), "S3": (300, -500), "S4": (900, -500),
    "S5": (1200, -500), "W2": (-300, -900), "W3": (300, -900), "W4": (900, -900),
    "W5": (1200, -900), "P1": (-820, -885), "T1": (260, -1500), "T2": (600, -1560),
    # north village 石桥村 across the river
    "N1": (-150, 1700), "N2": (-100, 2250), "N3": (250, 1685), "N4": (650, 1740),
    "N5": (330, 1930),
    # west village 西村
    "V1": (-3350, 400), "V2": (-3300, 640), "V3": (-2700, 380),
    # east village lane
    "E1": (2720, 520),
    # 山岭路 up to 云岭村
    "H1": (2050, -850), "H2": (2650, -1600), "H3": (3050, -2330), "H4": (3100, -2652),
    "L1": (2620, -700), "D1": (2765, -2335),
}

# Roads: (name, class, oneway, vertex list, smoothing iterations). A vertex is a node name or a
# shape point (x, y). Every road is split at each named node into graph edges; smoothing (Chaikin)
# rounds the corners of each edge between its end nodes.
ROADS = [
    ("S208省道", "primary", 0, ["A0", (-3650, -130), "A1", (-3100, -50), (-2800, -20),
                                (-2250, -4), "A3"], 0),
    ("青石大道", "secondary", 0, ["A3", "A4", "A5", "A6", "A7", "A8", "A9"], 0),
    ("S208省道", "primary", 0, ["A9", "A10", (3200, 120), "A11"], 1),
    ("河滨西路", "tertiary", 0, ["A3", (-1640, 210), "R0"], 1),
    ("河滨路", "tertiary", 0, ["R0", "R1", "R2", "R3", "R4", "R5"], 0),
    ("河滨东路", "tertiary", 0, ["R5", (1650, 260), "A9"], 1),
    # 老街 is a narrow one-way street, north to south
    ("老街", "residential", 1, ["R1", "B1", "A4", "S1"], 0),
    ("学府路", "tertiary", 0, ["R2", "B2", "A5", "X1", "S2", "W2"], 0),
    ("建设路", "residential", 0, ["R3", "C1", "A6", "X2", "S3", "W3"], 0),
    ("新街", "residential", 0, ["R4", "C2", "A7", "S4", "W4"], 0),
    ("东环路", "tertiary", 0, ["A8", "S5", "W5"], 0),
    ("东岳巷", "residential", 0, ["B1", "B2"], 0),
    ("柳巷", "residential", 0, ["C1", "C2"], 0),
    ("育才巷", "residential", 0, ["X1", "X2"], 0),
    ("南街", "residential", 0, ["S1", "S2", "S3", "S4", "S5"], 0),
    # 文昌路 is one-way eastbound between 学府路 and 建设路
    ("文昌路", "residential", 1, ["W2", "W3"], 0),
    ("文昌路", "residential", 0, ["W3", "W4", "W5"], 0),
    ("荷塘巷", "service", 0, ["W2", (-560, -895), "P1"], 0),
    ("南村路", "unclassified", 0, ["W3", (280, -1200), "T1", (420, -1540), "T2"], 1),
    # 石桥路 crosses 青石河 on 青石桥 (around y 520) to the north village
    ("石桥路", "tertiary", 0, ["R2", (-292, 600), (-285, 760), (-220, 980), (-255, 1230),
                               (-180, 1460), "N1", (-124, 1950), "N2"], 1),
    ("北村路", "residential", 0, ["N1", "N3", "N4"], 1),
    ("塘边路", "service", 0, ["N3", (300, 1820), "N5"], 1),
    ("西村路", "unclassified", 0, ["A1", (-3380, 150), "V1", "V2"], 1),
    ("西村巷", "unclassified", 0, ["V1", (-3000, 420), "V3"], 1),
    ("东村路", "unclassified", 0, ["A10", (2650, 300), "E1"], 1),
    # the winding hill road to 云岭村 and its school
    ("山岭路", "unclassified", 0, ["A9", (1840, -200), (2000, -300), (1870, -430),
                                   (2030, -560), (1900, -700), "H1"], 2),
    ("山岭路", "unclassified", 0, ["H1", (2230, -910), (2400, -990), (2210, -1080),
                                   (2430, -1190), (2250, -1320), (2460, -1430),
                                   (2340, -1540), "H2"], 2),
    ("云岭村道", "track", 0, ["H2", (2820, -1700), (2700, -1800), (2900, -1900),
                             (2760, -2020), (2960, -2120), (2880, -2230), "H3"], 2),
    ("云岭村道", "track", 0, ["H3", (2960, -2420), (3140, -2470), (2990, -2560),
                             (3160, -2600), "H4"], 2),
    ("岭下村路", "unclassified", 0, ["H1", (2350, -760), "L1"], 1),
    ("水库路", "track", 0, ["H3", (2900, -2310), "D1"], 1),
]

# Schools: perimeter rings (local metres, CCW), gates given as a point near the wanted edge (the
# gate is projected onto the nearest perimeter edge, so it lies exactly on the boundary).
DEFAULT_PERIODS = ("07:00", "08:30", "16:00", "18:00")

SCHOOLS = [
    {
        "key": "central", "name": "青石镇中心小学", "kind": "central_primary",
        "rings": [rect(-470, -480, -320, -360)],
        "address": "青石镇学府路18号", "periods": DEFAULT_PERIODS,
        "gates": [("正门", (-320, -420)), ("侧门", (-395, -480))],
        "contacts": [("周建国", "校长", "0731-85550101"),
                     ("李红梅", "分管安全副校长", "0731-85550102"),
                     ("陈志强", "驻校辅警", "0731-85550103")],
        "note": "中心小学：派出所1分钟内可达；校门口有网吧、出租屋（200米内）",
    },
    {
        "key": "middle", "name": "青石镇中学", "kind": "middle", "boarding": True,
        # L-shaped campus: teaching block and dormitories north, sports field south-west
        "rings": [ccw(close([(920, -280), (1060, -280), (1060, -200), (1180, -200),
                             (1180, -20), (920, -20)]))],
        "address": "青石镇青石大道88号", "periods": DEFAULT_PERIODS,
        "gates": [("正门", (1050, -20)), ("侧门", (920, -150)), ("后门", (1180, -110))],
        "contacts": [("王立新", "校长", "0731-85550201"),
                     ("赵海燕", "政教主任", "0731-85550202"),
                     ("刘建军", "宿管值班室", "0731-85550203")],
        "note": "寄宿制中学：三个校门；周日返校、周五离校窗口；中考安保窗口（2027-06-16至18日）",
    },
    {
        "key": "shiqiao", "name": "石桥小学", "kind": "primary",
        "rings": [rect(-125, 1715, 25, 1835)],
        "address": "青石镇石桥村北村路1号", "periods": DEFAULT_PERIODS,
        "gates": [("正门", (-125, 1775)), ("侧门", (-50, 1715))],
        "contacts": [("孙桂芳", "校长", "0731-85550301"),
                     ("吴国平", "安全员", "0731-85550302")],
        "note": "河对岸村小：学生过青石桥上学（桥头必到点）",
    },
    {
        "key": "xicun", "name": "西村小学", "kind": "primary",
        "rings": [rect(-3180, -182, -3040, -72)],
        "address": "青石镇西村S208省道旁", "periods": DEFAULT_PERIODS,
        "gates": [("正门", (-3110, -72))],
        "contacts": [("郑文华", "校长", "0731-85550401")],
        "note": "国省道旁村小：3–5分钟圈；校门前无人行横道",
    },
    {
        "key": "yunling", "name": "云岭小学", "kind": "primary", "remote": True,
        "rings": [rect(3050, -2760, 3150, -2670, 6)],
        "address": "青石镇云岭村", "periods": ("07:00", "08:30", "15:30", "17:00"),
        "gates": [("正门", (3100, -2668))],
        "contacts": [("何明亮", "校长", "0731-85550501"),
                     ("黄春兰", "教师（兼安全员）", "0731-85550502")],
        "note": "偏远山区学校：派出所驾车约12分钟，超出5分钟圈；固定救援路线；附近有云岭水库",
    },
    {
        "key": "kg_center", "name": "青石镇中心幼儿园", "kind": "kindergarten",
        "rings": [rect(-880, -260, -820, -210)],
        "address": "青石镇老街26号", "periods": ("07:30", "09:00", "16:30", "17:30"),
        "gates": [("正门", (-880, -235))],
        "contacts": [("林晓燕", "园长", "0731-85550601"),
                     ("高秀英", "保安", "0731-85550602")],
        "note": "幼儿园：自定重点时段 07:30–09:00 / 16:30–17:30；门前老街为单行道",
    },
    {
        "key": "kg_sun", "name": "阳光幼儿园", "kind": "kindergarten",
        "rings": [rect(320, -480, 380, -430)],
        "address": "青石镇建设路南街口", "periods": DEFAULT_PERIODS,
        "gates": [("正门", (320, -455)), ("侧门", (350, -480))],
        "contacts": [("马丽", "园长（民办）", "0731-85550701")],
        "note": "民办幼儿园：两个门；小旅馆在200米内",
    },
]

# Route points (roads pupils walk): name, location, school key whose key periods apply.
ROUTE_POINTS = [
    ("学府路南街口（上学路口）", (-300, -500), "central"),
    ("青石桥头", (-297, 500), "shiqiao"),
    ("青石大道新街口", (900, 0), "middle"),
    ("西村路口（S208）", (-3400, -80), "xicun"),
]

# Waters. River: a line; ponds and reservoir: polygons.
RIVER = chaikin([(-4000, 960), (-3300, 840), (-2600, 880), (-2100, 800), (-1700, 660),
                 (-1250, 565), (-1000, 505), (-700, 520), (-300, 540), (250, 545), (800, 505),
                 (1300, 540), (1800, 640), (2400, 800), (3000, 900), (3500, 880), (4000, 1020)],
                2)

WATERS = [
    {"name": "青石河", "kind": "river", "line": RIVER, "risk": 3,
     "note": "穿镇而过，河滨路、青石桥一带夏季常有学生戏水"},
    {"name": "荷花塘", "kind": "pond", "ring": blob(-600, -965, 75, 38, 14, 0.08, 0.7),
     "risk": 2, "note": "鱼塘，荷塘巷旁"},
    {"name": "石桥村山塘", "kind": "pond", "ring": blob(430, 1870, 60, 40, 14, 0.1, 1.9, 20),
     "risk": 2, "note": "山塘，塘边路旁，无护栏"},
    {"name": "西村鱼塘", "kind": "pond", "ring": blob(-3160, 260, 60, 35, 12, 0.07, 2.5, -10),
     "risk": 2, "note": "鱼塘"},
    {"name": "云岭水库", "kind": "reservoir",
     "ring": blob(2555, -2400, 170, 110, 18, 0.06, 0.3, 15), "risk": 3,
     "note": "小（二）型水库，距云岭小学约430米"},
]

# Water patrol points: name, location, water name, radius.
WATER_POINTS = [
    ("青石河河湾（防溺水）", (-1000, 458), "青石河", 80),
    ("荷花塘（防溺水）", (-600, -915), "荷花塘", 60),
    ("石桥村山塘（防溺水）", (335, 1850), "石桥村山塘", 60),
    ("云岭水库坝头（防溺水）", (2745, -2350), "云岭水库", 80),
]

# Risky road segments: (name, road piece (from node, to node), fraction from, fraction to,
# risk, reason, status).
RISKY = [
    ("学府路中心小学门前", ("X1", "S2"), 0.25, 1.0, 3, "无人行横道",
     "校门前无人行横道、无减速带，上下学高峰人车混行", "reported"),
    ("青石大道中学段", ("A7", "A8"), 0.0, 1.0, 3, "货车混行",
     "砂石货车经青石大道过境，与上下学学生混行", "reported"),
    ("石桥路青石桥头", ("R2", "N1"), 0.0, 0.12, 2, "视线遮挡",
     "桥头绿化遮挡视线（已修剪并设凸面镜）", "fixed"),
    ("S208西村小学段", ("A1", "A3"), 0.05, 0.3, 3, "无人行横道",
     "国省道穿村，车速快，校门前无人行横道", "found"),
    ("山岭路回头弯", ("H1", "H2"), 0.3, 0.75, 3, "急弯",
     "连续急弯，临崖无护栏，校车、救援车辆通行困难", "found"),
    ("云岭村道临水段", ("H2", "H3"), 0.55, 0.95, 2, "临水无护栏",
     "道路临近云岭水库，无护栏", "found"),
]

VENUES = [
    ("极速网吧", "internet_cafe", (-255, -395), "青石镇学府路21号"),
    ("星空网吧", "internet_cafe", (-1150, 40), "青石镇青石大道西段102号"),
    ("欢乐游戏厅", "game_hall", (1100, 45), "青石镇青石大道91号"),
    ("老街电玩城", "game_hall", (-945, 150), "青石镇老街8号"),
    ("金嗓子KTV", "karaoke", (1250, -640), "青石镇东环路66号"),
    ("青石旅社", "small_hotel", (450, -478), "青石镇南街45号"),
    ("西村小旅馆", "small_hotel", (-2960, 15), "青石镇西村S208省道旁"),
    ("学府路出租屋", "rental_housing", (-240, -620), "青石镇学府路33号"),
    ("柳巷出租屋", "rental_housing", (600, 280), "青石镇柳巷7号"),
]

STATIONS = [
    ("青石镇派出所", "police_station", (-150, 22), "0731-85550110"),
    ("云岭警务室", "patrol_base", (2668, -1582), "0731-85550119"),
]


# ------------------------------------------------------------------------------------------------
# Building the road graph
# ------------------------------------------------------------------------------------------------


class Edge:
    __slots__ = ("name", "cls", "oneway", "pts", "ids", "a", "b")

    def __init__(self, name, cls, oneway, pts, ids, a, b):
        self.name, self.cls, self.oneway = name, cls, oneway
        self.pts, self.ids, self.a, self.b = pts, ids, a, b

    @property
    def length(self):
        return polyline_length(self.pts)

    @property
    def seconds(self):
        return self.length / (CLASS_SPEED[self.cls] / 3.6)


def build_edges():
    node_id = {}
    for i, name in enumerate(sorted(NODES, key=lambda k: (k[0], int(k[1:])))):
        node_id[name] = DEMO_NODE_BASE + 1 + i
    next_id = [DEMO_NODE_BASE + 1001]
    edges = []
    for name, cls, oneway, verts, smooth in ROADS:
        assert isinstance(verts[0], str) and isinstance(verts[-1], str), name
        piece = [verts[0]]
        for v in verts[1:]:
            piece.append(v)
            if isinstance(v, str):
                pts = [NODES[q] if isinstance(q, str) else q for q in piece]
                pts = [(float(x), float(y)) for x, y in pts]
                if smooth:
                    pts = chaikin(pts, smooth)
                ids = [node_id[piece[0]]]
                for _ in pts[1:-1]:
                    ids.append(next_id[0])
                    next_id[0] += 1
                ids.append(node_id[piece[-1]])
                edges.append(Edge(name, cls, oneway, pts, ids, piece[0], piece[-1]))
                piece = [v]
    return edges


def dijkstra(edges, src):
    adj = {}
    for e in edges:
        if e.oneway in (0, 1):
            adj.setdefault(e.a, []).append((e.b, e.seconds))
        if e.oneway in (0, -1):
            adj.setdefault(e.b, []).append((e.a, e.seconds))
    best = {src: 0.0}
    heap = [(0.0, src)]
    while heap:
        d, u = heapq.heappop(heap)
        if d > best.get(u, math.inf):
            continue
        for v, w in adj.get(u, []):
            if d + w < best.get(v, math.inf):
                best[v] = d + w
                heapq.heappush(heap, (d + w, v))
    return best


def nearest_node(p):
    return min(NODES, key=lambda k: (dist(NODES[k], p), k))


def school_gate_points(s):
    """Gates projected onto the nearest edge of the school's perimeter."""
    out = []
    for gname, want in s["gates"]:
        best = None
        for ring in s["rings"]:
            for i in range(len(ring) - 1):
                q = project_on_segment(want, ring[i], ring[i + 1])
                d = dist(q, want)
                if best is None or d < best[0]:
                    best = (d, q)
        out.append((gname, (round(best[1][0], 3), round(best[1][1], 3))))
    return out


def drive_times(edges):
    """Seconds from the police station's nearest node to each school (best gate)."""
    station = STATIONS[0][2]
    times = dijkstra(edges, nearest_node(station))
    out = {}
    for s in SCHOOLS:
        out[s["key"]] = min(times.get(nearest_node(g), math.inf)
                            for _, g in school_gate_points(s))
    return out


# ------------------------------------------------------------------------------------------------
# Self-checks
# ------------------------------------------------------------------------------------------------


def check_town(edges):
    errors = []

    def err(msg):
        errors.append(msg)

    all_road = [e.pts for e in edges]

    def road_dist(p):
        return min(polyline_point_dist(p, pts) for pts in all_road)

    # edges: no crossings except at shared end nodes; no repeated vertices inside an edge
    for i, e in enumerate(edges):
        if len(set(e.pts)) != len(e.pts):
            err("edge %s %s-%s repeats a vertex" % (e.name, e.a, e.b))
        for f in edges[i + 1:]:
            shared = {NODES[n] for n in {e.a, e.b} & {f.a, f.b}}
            for k in range(len(e.pts) - 1):
                p1, p2 = e.pts[k], e.pts[k + 1]
                for m in range(len(f.pts) - 1):
                    q1, q2 = f.pts[m], f.pts[m + 1]
                    if not segments_intersect(p1, p2, q1, q2):
                        continue
                    common = {p1, p2} & {q1, q2}
                    if len(common) == 1 and common <= shared:
                        # touching at a shared junction: fine unless they run on together
                        c = common.pop()
                        po = p2 if p1 == c else p1
                        qo = q2 if q1 == c else q1
                        dot = (po[0] - c[0]) * (qo[0] - c[0]) + (po[1] - c[1]) * (qo[1] - c[1])
                        if _orient(c, po, qo) != 0 or dot < 0:
                            continue
                    err("edges %s %s-%s and %s %s-%s cross or overlap"
                        % (e.name, e.a, e.b, f.name, f.a, f.b))
            if len(shared) == 2:
                err("parallel edges %s and %s between the same nodes" % (e.name, f.name))

    # every node used is a named node that some edge touches; graph strongly connected
    used = {e.a for e in edges} | {e.b for e in edges}
    for n in NODES:
        if n not in used:
            err("node %s unused" % n)
    src = nearest_node(STATIONS[0][2])
    fwd = dijkstra(edges, src)
    rev_edges = [Edge(e.name, e.cls, -e.oneway, e.pts, e.ids, e.a, e.b) for e in edges]
    back = dijkstra(rev_edges, src)
    for n in used:
        if n not in fwd or n not in back:
            err("node %s not strongly connected to the station" % n)

    # schools
    polys = []
    for s in SCHOOLS:
        for ring in s["rings"]:
            if not ring_is_simple(ring) or ring_area(ring) <= 0:
                err("school %s ring invalid" % s["name"])
            polys.append((s["name"], ring))
            for pts in all_road:
                ring_as_line = ring
                if polylines_cross(ring_as_line, pts) or any(point_in_ring(p, ring)
                                                             for p in pts):
                    err("road crosses school %s" % s["name"])
            if polylines_min_dist(ring, RIVER) < 30:
                err("school %s too close to the river" % s["name"])
        for gname, g in school_gate_points(s):
            d = road_dist(g)
            if d > 25:
                err("gate %s %s is %.1f m from a road" % (s["name"], gname, d))
    for i, (n1, r1) in enumerate(polys):
        for n2, r2 in polys[i + 1:]:
            if polylines_cross(r1, r2):
                err("schools %s and %s overlap" % (n1, n2))

    # waters: polygons valid, away from roads and schools; river crosses only at the bridge
    for w in WATERS:
        if "ring" in w:
            ring = w["ring"]
            if not ring_is_simple(ring) or ring_area(ring) <= 0:
                err("water %s ring invalid" % w["name"])
            for pts in all_road:
                if polylines_cross(ring, pts) or any(point_in_ring(p, ring) for p in pts):
                    err("road crosses water %s" % w["name"])
            for _, sring in polys:
                if polylines_cross(ring, sring):
                    err("water %s overlaps a school" % w["name"])
            if polylines_min_dist(ring, RIVER) < 20:
                err("water %s touches the river" % w["name"])
    bridges = [e for e in edges if polylines_cross(e.pts, RIVER)]
    if [(e.name, e.a, e.b) for e in bridges] != [("石桥路", "R2", "N1")]:
        err("river crossed by %s (expected only 石桥路 on 青石桥)"
            % [(e.name, e.a, e.b) for e in bridges])

    # point features
    for name, p, key in ROUTE_POINTS:
        if road_dist(p) > 5:
            err("route point %s is %.1f m off the road" % (name, road_dist(p)))
    for name, p, water, radius in WATER_POINTS:
        w = [w for w in WATERS if w["name"] == water][0]
        shape = w.get("ring") or w["line"]
        dw = polyline_point_dist(p, shape)
        if dw > radius or road_dist(p) > 40:
            err("water point %s: %.1f m from water, %.1f m from road" % (name, dw, road_dist(p)))
        if "ring" in w and point_in_ring(p, w["ring"]):
            err("water point %s inside the water" % name)
    for name, kind, p, _ in VENUES:
        if road_dist(p) > 60:
            err("venue %s is %.1f m from a road" % (name, road_dist(p)))
        if road_dist(p) < 8:
            err("venue %s sits on a road" % name)
        for sname, ring in polys:
            if point_in_ring(p, ring):
                err("venue %s inside school %s" % (name, sname))
    for name, kind, p, _ in STATIONS:
        if road_dist(p) > 30:
            err("station %s is %.1f m from a road" % (name, road_dist(p)))

    # risky segments must have a usable length
    for r in RISKY:
        if len(risky_line(edges, r)) < 2:
            err("risky segment %s is empty" % r[0])

    # response-time classes demonstrated
    t = drive_times(edges)
    if not t["central"] < 60:
        err("central primary should be within 1 min, is %.0f s" % t["central"])
    if not t["yunling"] > 720:
        err("remote school should be beyond 12 min, is %.0f s" % t["yunling"])
    if not 180 < t["xicun"] < 300:
        err("西村小学 should be in the 3-5 min class, is %.0f s" % t["xicun"])

    n = len(edges)
    if not 60 <= n <= 200:
        err("%d road edges (want 60..200)" % n)
    return errors


def risky_line(edges, r):
    _, (a, b), f0, f1 = r[0], r[1], r[2], r[3]
    for e in edges:
        if (e.a, e.b) == (a, b):
            return sub_polyline(e.pts, f0, f1)
    raise KeyError("no road edge %s-%s" % (a, b))


def venue_nearest_school(p):
    best = None
    for s in SCHOOLS:
        for ring in s["rings"]:
            d = 0.0 if point_in_ring(p, ring) else polyline_point_dist(p, ring)
            if best is None or d < best[0]:
                best = (d, s["name"])
    return best


# ------------------------------------------------------------------------------------------------
# SQL output
# ------------------------------------------------------------------------------------------------


def q(s):
    """SQL string literal."""
    if s is None:
        return "NULL"
    return "'" + str(s).replace("'", "''") + "'"


def jq(obj):
    return q(json.dumps(obj, ensure_ascii=False, sort_keys=True)) + "::jsonb"


def g_point(p):
    return "ST_GeomFromText('POINT(%s)', 4326)" % fmt(p)


def g_line(pts):
    return "ST_GeomFromText('LINESTRING(%s)', 4326)" % ", ".join(fmt(p) for p in pts)


def g_polygon(ring):
    return "ST_GeomFromText('POLYGON((%s))', 4326)" % ", ".join(fmt(p) for p in ring)


def g_multipolygon(rings):
    return "ST_GeomFromText('MULTIPOLYGON(%s)', 4326)" % ", ".join(
        "((%s))" % ", ".join(fmt(p) for p in ring) for ring in rings)


DEMO = {"demo": True}
DEMO_WHERE = "props->>'demo' = 'true'"


def props(**extra):
    d = dict(DEMO)
    d.update({k: v for k, v in extra.items() if v is not None})
    return jq(d)


def school_ref(key):
    name = [s["name"] for s in SCHOOLS if s["key"] == key][0]
    return "(SELECT id FROM schools WHERE name = %s AND %s)" % (q(name), DEMO_WHERE)


def windows_for_school_point(s):
    a0, a1, d0, d1 = s["periods"]
    return [("上学", 31, a0, a1, 1, None, None), ("放学", 31, d0, d1, 1, None, None)]


def sql(edges):
    out = []
    w = out.append
    w("-- 青石镇 (Qingshi Town), the fictional patrolgis demo town.")
    w("-- Generated by geodata/demo_town.py; do not edit. Run inside one transaction")
    w("-- (geodata/load-demo uses psql --single-transaction). Demo rows: props->>'demo' = 'true'.")
    w("SET client_encoding = 'UTF8';")
    w("SET client_min_messages = warning;")
    w("SELECT set_config('patrolgis.request_id', 'load-demo', true);")
    w("")
    w("-- 1. remove the previous demo rows, children first. Visits and check-ins of demo points")
    w("--    go by ON DELETE CASCADE, events keep their history (point_id SET NULL);")
    w("--    inspections of demo schools (ON DELETE RESTRICT) go explicitly.")
    w("DELETE FROM inspections i USING schools s")
    w(" WHERE i.school_id = s.id AND s.props->>'demo' = 'true';")
    w("DELETE FROM patrol_windows w USING patrol_points p")
    w(" WHERE w.point_id = p.id AND p.props->>'demo' = 'true';")
    w("DELETE FROM patrol_windows WHERE %s;" % DEMO_WHERE)
    for t in ("patrol_points", "schools", "waters", "road_segments", "venues", "stations"):
        w("DELETE FROM %s WHERE %s;" % (t, DEMO_WHERE))
    w("DELETE FROM roads WHERE source = 'demo' OR %s;" % DEMO_WHERE)
    w("")

    # schools
    w("-- 2. schools")
    w("INSERT INTO schools (name, kind, perimeter, boarding, remote, address, contacts,")
    w("                     arrival_start, arrival_end, dismissal_start, dismissal_end, props)")
    w("VALUES")
    rows = []
    for s in SCHOOLS:
        a0, a1, d0, d1 = s["periods"]
        contacts = [{"name": n, "role": r, "phone": ph} for n, r, ph in s["contacts"]]
        rows.append("  (%s, %s,\n   %s,\n   %s, %s, %s, %s,\n   %s, %s, %s, %s, %s)" % (
            q(s["name"]), q(s["kind"]), g_multipolygon(s["rings"]),
            "true" if s.get("boarding") else "false", "true" if s.get("remote") else "false",
            q(s["address"]), jq(contacts), q(a0), q(a1), q(d0), q(d1),
            props(town="青石镇", note=s["note"])))
    w(",\n".join(rows) + ";")
    w("")

    # patrol points
    w("-- 3. patrol points: gates, routes pupils walk, key waters")
    w("INSERT INTO patrol_points (name, kind, school_id, location, radius_m, min_dwell_s,")
    w("                           season_start, season_end, props)")
    w("VALUES")
    rows = []
    for s in SCHOOLS:
        for gname, g in school_gate_points(s):
            rows.append("  (%s, 'gate', %s, %s, 50, 60, NULL, NULL, %s)" % (
                q(s["name"] + gname), school_ref(s["key"]), g_point(g),
                props(gate=gname)))
    for name, p, key in ROUTE_POINTS:
        rows.append("  (%s, 'route', %s, %s, 40, 0, NULL, NULL, %s)" % (
            q(name), school_ref(key), g_point(p), props()))
    for name, p, water, radius in WATER_POINTS:
        rows.append("  (%s, 'water', NULL, %s, %d, 60, %s, %s, %s)" % (
            q(name), g_point(p), radius, q(SEASON[0]), q(SEASON[1]), props(water=water)))
    w(",\n".join(rows) + ";")
    w("")

    # windows
    w("-- 4. patrol windows (days: ISO weekday mask, 31 = Mon-Fri, 127 = every day)")
    wins = []
    by_key = {s["key"]: s for s in SCHOOLS}
    for s in SCHOOLS:
        for gname, _ in school_gate_points(s):
            pname = s["name"] + gname
            for win in windows_for_school_point(s):
                wins.append((pname,) + win)
            if s["key"] == "middle" and gname == "正门":
                wins.append((pname, "周日返校（寄宿生）", 64, "14:00", "18:00", 1, None, None))
                wins.append((pname, "周五离校（寄宿生）", 16, "14:30", "16:00", 1, None, None))
                wins.append((pname, "中考安保", 127, "07:00", "12:00", 2, "2027-06-16",
                             "2027-06-18"))
    for name, _, key in ROUTE_POINTS:
        for win in windows_for_school_point(by_key[key]):
            wins.append((name,) + win)
    for name, _, _, _ in WATER_POINTS:
        wins.append((name, "午间巡查", 127, "12:00", "14:00", 1, None, None))
        wins.append((name, "傍晚巡查", 127, "17:00", "19:00", 1, None, None))
    # In force for a month already (the plan is older than this database): a window is never
    # judged missed on a day before it was created, and the simulator backfills recent days.
    w("INSERT INTO patrol_windows (point_id, name, days, start_local, end_local, required_visits,")
    w("                            date_from, date_to, props, created_at)")
    w("SELECT p.id, v.name, v.days, v.start_local::time, v.end_local::time, v.required_visits,")
    w("       v.date_from::date, v.date_to::date, %s, now() - interval '30 days'" % props())
    w("  FROM (VALUES")
    w(",\n".join("    (%s, %s, %d, %s, %s, %d, %s, %s)" % (
        q(p), q(n), d, q(a), q(b), r, q(df), q(dt)) for p, n, d, a, b, r, df, dt in wins))
    w("       ) AS v(point, name, days, start_local, end_local, required_visits, date_from,")
    w("              date_to)")
    w("  JOIN patrol_points p ON p.name = v.point AND p.props->>'demo' = 'true'")
    w(" ORDER BY p.id, v.start_local, v.name;")
    w("")

    # waters
    w("-- 5. dangerous waters (drowning season %s..%s)" % SEASON)
    w("INSERT INTO waters (name, kind, geom, risk_level, season_start, season_end, props)")
    w("VALUES")
    rows = []
    for wt in WATERS:
        geom = g_line(wt["line"]) if "line" in wt else g_polygon(wt["ring"])
        rows.append("  (%s, %s,\n   %s,\n   %d, %s, %s, %s)" % (
            q(wt["name"]), q(wt["kind"]), geom, wt["risk"], q(SEASON[0]), q(SEASON[1]),
            props(note=wt["note"])))
    w(",\n".join(rows) + ";")
    w("")

    # risky road segments
    w("-- 6. risky road segments near schools (plan section 四(五))")
    w("INSERT INTO road_segments (name, geom, risk_level, reason, status, props)")
    w("VALUES")
    rows = []
    for r in RISKY:
        name, _, _, _, risk, kind, reason, status = r
        rows.append("  (%s,\n   %s,\n   %d, %s, %s, %s)" % (
            q(name), g_line(risky_line(edges, r)), risk, q(reason), q(status),
            props(hazard=kind)))
    w(",\n".join(rows) + ";")
    w("")

    # venues
    w("-- 7. venues to watch around schools (plan section 四(四))")
    w("INSERT INTO venues (name, kind, location, address, props)")
    w("VALUES")
    w(",\n".join("  (%s, %s, %s, %s, %s)" % (q(n), q(k), g_point(p), q(a), props())
                 for n, k, p, a in VENUES) + ";")
    w("")

    # stations
    w("-- 8. police station and patrol base")
    w("INSERT INTO stations (name, kind, location, phone, props)")
    w("VALUES")
    w(",\n".join("  (%s, %s, %s, %s, %s)" % (q(n), q(k), g_point(p), q(ph), props())
                 for n, k, p, ph in STATIONS) + ";")
    w("")

    # roads
    w("-- 9. the drivable road network, split at junctions; node_ids: one id per vertex,")
    w("--    shared (with identical coordinates) where edges meet")
    w("INSERT INTO roads (name, class, oneway, speed_kmh, geom, node_ids, source, props)")
    w("VALUES")
    rows = []
    for e in edges:
        rows.append("  (%s, %s, %d, %s,\n   %s,\n   '{%s}', 'demo', %s)" % (
            q(e.name), q(e.cls), e.oneway, repr(CLASS_SPEED[e.cls]), g_line(e.pts),
            ",".join(str(i) for i in e.ids), props()))
    w(",\n".join(rows) + ";")
    w("")
    return "\n".join(out) + "\n"


def report(edges):
    lines = []
    t = drive_times(edges)
    n_gates = sum(len(s["gates"]) for s in SCHOOLS)
    lines.append("schools %d, gates %d, route points %d, water points %d" % (
        len(SCHOOLS), n_gates, len(ROUTE_POINTS), len(WATER_POINTS)))
    lines.append("road edges %d, total %.1f km" % (
        len(edges), sum(e.length for e in edges) / 1000))
    lines.append("drive time from %s (planar estimate):" % STATIONS[0][0])
    for s in SCHOOLS:
        lines.append("  %-10s %6.0f s  %5.1f min" % (s["name"], t[s["key"]], t[s["key"]] / 60))
    lines.append("venues, nearest school perimeter:")
    for name, kind, p, _ in VENUES:
        d, sname = venue_nearest_school(p)
        lines.append("  %-8s %-15s %5.0f m  %s" % (name, kind, d, sname))
    return "\n".join(lines) + "\n"


def main(argv):
    edges = build_edges()
    errors = check_town(edges)
    if errors:
        for e in errors:
            print("demo_town: check failed: " + e, file=sys.stderr)
        return 1
    if len(argv) > 1 and argv[1] in ("-h", "--help"):
        print(__doc__)
        return 0
    if len(argv) > 1 and argv[1] == "--report":
        sys.stdout.write(report(edges))
        return 0
    text = sql(edges)
    if len(argv) > 1 and argv[1] != "-":
        with open(argv[1], "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.buffer.write(text.encode("utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
