"""English as written in Sweden: day before month, a 24-hour clock, ISO dates where short
("5 December 2026", "5 December 2026 14:05", "2026-12-05 14:05"), never the American
"12/05/2026 2:05 p.m.". Swedish keeps Django's own display formats ("5 december 2026",
"2026-12-05 14:05"), which are already Swedish style (config/formats/sv). Member pages write
short dates and amounts through ``members.formats`` ("5 Dec 2026", "1,298 kr")."""

DATE_FORMAT = "j F Y"
TIME_FORMAT = "H:i"
DATETIME_FORMAT = "j F Y H:i"
YEAR_MONTH_FORMAT = "F Y"
MONTH_DAY_FORMAT = "j F"
SHORT_DATE_FORMAT = "Y-m-d"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
FIRST_DAY_OF_WEEK = 1  # Monday
DATE_INPUT_FORMATS = ["%Y-%m-%d", "%d/%m/%Y", "%d/%m/%y"]
DATETIME_INPUT_FORMATS = [
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M:%S.%f",
    "%Y-%m-%d %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
]
