// Drives code-server (VS Code in the browser) in Debian's chromium: opens train.py,
// opens the Problems panel, waits for the trainlint row, saves a screenshot.
//
//   node problems_panel.js URL SCREENSHOT   (PLAYWRIGHT_CORE: path of playwright-core)
// Prints the Problems panel's rows as JSON on success; exits 1 with a reason otherwise.

const { chromium } = require(process.env.PLAYWRIGHT_CORE || 'playwright-core');

const [url, screenshot] = process.argv.slice(2);
const CODE = process.env.EXPECT_CODE || 'TL202';

(async () => {
    const browser = await chromium.launch({
        executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
        args: [
            '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
            '--disable-background-networking', '--disable-component-update', '--disable-sync',
        ],
    });
    let page;
    try {
        page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
        await page.goto(url, { waitUntil: 'domcontentloaded' });
        await page.waitForSelector('.monaco-workbench .explorer-folders-view', { timeout: 60_000 });

        await page.locator('.explorer-folders-view .monaco-list-row', { hasText: 'train.py' }).first().click();
        await page.waitForSelector('.monaco-editor .view-lines', { timeout: 30_000 });

        await page.locator('.monaco-editor .view-lines').first().click();
        await page.keyboard.press('Control+Shift+M');
        const row = page.locator('.markers-panel .monaco-list-row', { hasText: CODE }).first();
        await row.waitFor({ timeout: 90_000 });

        // let the squiggle render, then show the editor and the panel
        await page.waitForTimeout(1500);
        await page.screenshot({ path: screenshot });
        const rows = await page.locator('.markers-panel .monaco-list-row').allInnerTexts();
        console.log(JSON.stringify(rows));
    } catch (error) {
        if (page) {
            await page.screenshot({ path: screenshot.replace(/\.png$/, '-failed.png') }).catch(() => {});
        }
        console.error(String(error));
        process.exitCode = 1;
    } finally {
        await browser.close();
    }
})();
