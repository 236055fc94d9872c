"""Swedish: Django's own display formats ("4 december 2026", "2026-12-04 14:05"), which are
already Swedish style, with dates typed day before month: Django's Swedish input formats
also read "12/04/2026" the American way (as 4 December), which no Swede means. Member pages
write their short dates and amounts through ``members.formats`` ("4 dec. 2026", "1 298 kr")."""

DATE_INPUT_FORMATS = ["%Y-%m-%d", "%d/%m/%Y", "%d/%m/%y"]
DATETIME_INPUT_FORMATS = [
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M:%S.%f",
    "%Y-%m-%d %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
]
