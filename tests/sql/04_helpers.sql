-- 04_helpers.sql: the helpers of sql/005 and sql/007 that shape answers:
-- tokend_scope_pick (scope sets), tokend_time_text (timestamps),
-- tokend_scope_unreserved (default scope sets).
BEGIN;
SELECT plan(26);

-- tokend_scope_pick(requested, default, allowed, order)
SELECT is(tokend_scope_pick('c a b', '{}', '{a,b,c}', '{a,b,c}'), '{a,b,c}'::text[],
	'scope_pick: listed in the client''s order, not the request''s');
SELECT is(tokend_scope_pick('a c', '{}', '{a,b,c}', '{c,b,a}'), '{c,a}'::text[],
	'scope_pick: the order is p_order''s');
SELECT is(tokend_scope_pick('b a b a b', '{}', '{a,b}', '{a,b}'), '{a,b}'::text[],
	'scope_pick: duplicates removed');
SELECT is(tokend_scope_pick('', '{a}', '{a,b}', '{a,b}'), '{}'::text[],
	'scope_pick: "" is the empty set, not the default');
SELECT is(tokend_scope_pick(NULL, '{b,a}', '{a,b}', '{a,b}'), '{a,b}'::text[],
	'scope_pick: NULL takes the default set, in order');
SELECT is(tokend_scope_pick(NULL, '{}', '{a,b}', '{a,b}'), '{}'::text[],
	'scope_pick: NULL with an empty default is the empty set');
SELECT is(tokend_scope_pick('a d', '{}', '{a,b,c}', '{a,b,c}'), NULL,
	'scope_pick: not a subset gives NULL');
SELECT is(tokend_scope_pick('a', '{}', '{}', '{}'), NULL,
	'scope_pick: nothing allowed, something asked: NULL');
SELECT is(tokend_scope_pick(NULL, '{a,x}', '{a}', '{a}'), NULL,
	'scope_pick: a default outside the allowed set gives NULL too');
SELECT is(tokend_scope_pick('A', '{}', '{a}', '{a}'), NULL,
	'scope_pick: scopes are case-sensitive');
SELECT is(tokend_scope_pick('z a', '{}', '{a,z}', '{a}'), '{a,z}'::text[],
	'scope_pick: a scope missing from p_order goes last');
SELECT is(tokend_scope_pick('tokend:rotate read', '{read}', '{read,tokend:rotate}',
                            '{tokend:rotate,read}'),
	'{tokend:rotate,read}'::text[],
	'scope_pick: reserved scopes are kept when asked for by name');
-- The ordering of sql/013 walks p_order, then sorts what it lacks.
SELECT is(tokend_scope_pick('y b x a', '{}', '{a,b,x,y}', '{b,a}'),
	'{b,a,x,y}'::text[],
	'scope_pick: scopes missing from p_order go last, by name');
SELECT is(tokend_scope_pick('c a', '{}', '{a,b,c}', '{c,a,c,b}'), '{c,a}'::text[],
	'scope_pick: a scope repeated in p_order counts at its first place');
SELECT is(tokend_scope_pick('b a b', '{}', '{a,b}', NULL), '{a,b}'::text[],
	'scope_pick: no order at all: by name, de-duplicated');
SELECT is(tokend_scope_pick(NULL, NULL, '{a}', '{a}'), '{}'::text[],
	'scope_pick: no request and no default set: the empty set');

-- tokend_time_text: YYYY-MM-DDTHH:MM:SSZ in UTC, whatever the session's zone.
SELECT is(tokend_time_text('2024-02-29 23:59:59+00'), '2024-02-29T23:59:59Z',
	'time_text: UTC, the documented format');
SET LOCAL timezone = 'Pacific/Kiritimati';
SELECT is(tokend_time_text('2024-01-01 00:00:00+00'), '2024-01-01T00:00:00Z',
	'time_text: the session''s time zone (UTC+14) does not matter');
SELECT is(tokend_time_text('2024-06-30 18:30:00-05:30'), '2024-07-01T00:00:00Z',
	'time_text: offsets are converted to UTC');
RESET timezone;
SELECT is(tokend_time_text('2024-01-01 12:00:05.999999+00'), '2024-01-01T12:00:05Z',
	'time_text: fractions are dropped, never rounded up');
SELECT is(tokend_time_text('0999-01-01 00:00:00+00'), '0999-01-01T00:00:00Z',
	'time_text: four-digit year');
SELECT is(tokend_time_text(NULL), NULL, 'time_text: NULL stays NULL');
SELECT matches(tokend_time_text(now()), '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$',
	'time_text(now()) matches ^YYYY-MM-DDTHH:MM:SSZ$');

-- tokend_scope_unreserved: what a default scope set may hold.
SELECT is(tokend_scope_unreserved('{b,tokend:rotate,a,tokend:revoke}'), '{b,a}'::text[],
	'scope_unreserved: reserved scopes removed, order kept');
SELECT is(tokend_scope_unreserved('{}'), '{}'::text[], 'scope_unreserved: empty');
SELECT is(tokend_scope_unreserved('{tokend:rotate}'), '{}'::text[],
	'scope_unreserved: only reserved gives the empty set');

SELECT * FROM finish();
ROLLBACK;
