"""am_review in a real browser (tests/review/run.sh starts the server).

    browser.py URL RUN_DIR SHOTS_DIR

Headless Chromium through Selenium: opens the page by its token URL, labels
the first three candidates a, n, u with the keyboard, undoes the last,
checks RUN_DIR/labeled_data.csv, shows the single view (zoom, help), saves
screenshots, retrains from the button and checks that the gallery then
shows the order of the new scores.csv. Fails on any browser console error.
"""
import csv
import os
import sys
import time

from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

URL, RUN, SHOTS = sys.argv[1:4]


def fail(msg):
    print("review browser test: FAILED:", msg)
    sys.exit(1)


def labels_csv():
    with open(os.path.join(RUN, "labeled_data.csv"), newline="") as f:
        rows = list(csv.reader(f))
    return {r[0]: r[1] for r in rows[1:]}


def scores_order():
    """Images by score, highest first (ties by index), as the gallery sorts."""
    with open(os.path.join(RUN, "scores.csv"), newline="") as f:
        rows = list(csv.reader(f))[1:]
    return [name for name, _ in sorted(rows, key=lambda r: -float(r[1]))]


opts = webdriver.ChromeOptions()
for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,800",
          "--disable-gpu", "--no-first-run"):
    opts.add_argument(a)
opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
driver = webdriver.Chrome(options=opts)
wait = WebDriverWait(driver, 30)
body = None


def data(key):
    return body.get_attribute("data-" + key)


def key(k):
    body.send_keys(k)


def tile(i):
    return driver.find_element(By.CSS_SELECTOR, '.tile[data-i="%s"]' % i)


def selected():
    return driver.find_element(By.CSS_SELECTOR, ".tile.selected").get_attribute("data-i")


def tile_ids():
    return [t.get_attribute("data-i") for t in driver.find_elements(By.CSS_SELECTOR, "#gallery .tile")]


try:
    driver.get(URL)
    wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "1")
    body = driver.find_element(By.TAG_NAME, "body")
    if "?t=" in driver.current_url:
        fail("the token stayed in the address bar: %s" % driver.current_url)
    first = tile_ids()[:3]
    names = {}
    for i in first:
        names[i] = driver.execute_script(
            "return fetch('/api/items?limit=500').then(r => r.json()).then(j => j.items.find(x => x.i == %s).name)" % i)
    # Label the first three with the keyboard: a, n, u (each moves on).
    if selected() != first[0]:
        fail("the first tile is not selected at start")
    for k, want in zip("anu", ("anomaly", "normal", "unsure")):
        i = selected()
        key(k)
        wait.until(lambda d: tile(i).get_attribute("data-label") == want)
    labels = labels_csv()
    if labels.get(names[first[0]]) != "anomaly" or labels.get(names[first[1]]) != "normal":
        fail("labeled_data.csv lacks the keyboard's labels: %s" % labels)
    if names[first[2]] in labels:
        fail("the unsure image has a label in labeled_data.csv")
    # Undo the last (u): the image has no label mark again; the others stay.
    key("z")
    wait.until(lambda d: tile(first[2]).get_attribute("data-label") == "none")
    labels = labels_csv()
    if labels.get(names[first[0]]) != "anomaly" or labels.get(names[first[1]]) != "normal":
        fail("undo changed the wrong label: %s" % labels)
    driver.save_screenshot(os.path.join(SHOTS, "review_gallery.png"))
    # The single view: zoom in twice, the help, back to the gallery.
    key("g")
    wait.until(lambda d: data("view") == "single")
    time.sleep(0.5)  # the image drawn
    driver.save_screenshot(os.path.join(SHOTS, "review_single.png"))
    zoom0 = driver.find_element(By.ID, "zoom").text
    key("+")
    key("+")
    wait.until(lambda d: d.find_element(By.ID, "zoom").text != zoom0)
    key("?")
    wait.until(lambda d: d.find_element(By.ID, "help").is_displayed())
    key(Keys.ESCAPE)
    wait.until(lambda d: not d.find_element(By.ID, "help").is_displayed())
    key("g")
    wait.until(lambda d: data("view") == "gallery")
    # Retrain from the button; the gallery then shows the new scores' order.
    gen = int(data("generation") or 0)
    driver.find_element(By.ID, "retrain").click()
    WebDriverWait(driver, 180).until(lambda d: int(data("generation") or 0) == gen + 1)
    wait.until(lambda d: data("ready") == "1")
    order = scores_order()
    shown = driver.execute_script(
        "return Array.from(document.querySelectorAll('#gallery .tile')).map(t => t.dataset.i)")
    items = driver.execute_script(
        "return fetch('/api/items?limit=500').then(r => r.json()).then(j => j.items.map(x => [String(x.i), x.name]))")
    name_of = dict(items)
    got = [name_of[i] for i in shown]
    if got != order[:len(got)]:
        fail("after the retrain the gallery is not in the new scores' order:\n%s\n%s" % (got[:10], order[:10]))
    labels = labels_csv()
    if labels.get(names[first[0]]) != "anomaly" or labels.get(names[first[1]]) != "normal":
        fail("the labels changed across the retrain: %s" % labels)
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    if errors:
        fail("browser console errors: %s" % errors)
    print("review browser test: labelled 3, undid 1, retrained (generation %d), %d tiles in the new order"
          % (gen + 1, len(got)))
finally:
    driver.quit()
