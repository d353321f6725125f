import numpy as np

from engines.io.contact_sheet import LABEL_HEIGHT, contact_sheet


def block(h: int, w: int, value: int) -> np.ndarray:
    return np.full((h, w, 3), value, np.uint8)


def test_cells_line_up_in_columns_of_one_height_whatever_the_pictures_shape():
    # column 0: a landscape, a portrait and a 2x400 banner; column 1: a square, a 4:5 and a smaller square
    rows = [[block(60, 80, 0), block(50, 50, 100)],
            [block(80, 40, 0), block(40, 50, 100)],
            [block(2, 400, 0), block(40, 40, 100)]]
    h, gap = 40, 4
    sheet = contact_sheet(rows, height=h, gap=gap)
    # each column as wide as its widest picture at the row height (column 1: 50), at most 1.5 heights
    # (column 0: the banner would be 8,000 wide, so 60)
    lefts, widths = (gap, 2 * gap + 60), (60, 50)
    assert sheet.shape == (3 * (h + gap) + gap, gap + 60 + gap + 50 + gap, 3)
    for r in range(3):
        y0 = gap + r * (h + gap)
        assert (sheet[y0 - gap : y0] == 255).all()  # the gaps between rows stay white
        for c, value in enumerate((0, 100)):
            ys, xs = np.nonzero((sheet[y0 : y0 + h] == value).all(2))
            left, width = lefts[c], widths[c]
            assert left <= xs.min() and xs.max() < left + width  # inside its own column's cell
            assert abs((xs.min() - left) - (left + width - 1 - xs.max())) <= 1  # centred across it
            assert abs(ys.min() - (h - 1 - ys.max())) <= 1  # and down it
    first = (sheet[gap : gap + h] == 0).all(2)
    assert first.sum() == 40 * 53  # the 60x80 landscape is 40 high, aspect kept
    assert (sheet[gap : gap + h] == 100).all(2)[:, lefts[1] : lefts[1] + 50].sum() == 40 * 40


def test_labels_name_the_columns_in_a_header_above_the_first_row():
    rows = [[block(40, 40, 0), block(40, 40, 0)]]
    plain = contact_sheet(rows, height=40)
    named = contact_sheet(rows, height=40, labels=["content", "a much longer model name"])
    assert named.shape[0] == plain.shape[0] + LABEL_HEIGHT + 4 and named.shape[1] == plain.shape[1]
    header = named[: LABEL_HEIGHT + 4]
    for left in (4, 48):  # some ink over each column
        assert (header[:, left : left + 40] < 128).any()
    np.testing.assert_array_equal(named[LABEL_HEIGHT + 4 :], plain)
