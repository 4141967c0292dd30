// Drives code-server (VS Code in the browser) in Debian's chromium: opens train.py,
// opens the Problems panel, waits for the trainlint row, saves a screenshot; then runs
// the steps of an optional plan in the same window (one code-server start for all).
//
//   node problems_panel.js URL SCREENSHOT [PLAN.json]   (PLAYWRIGHT_CORE: path of playwright-core)
//
// PLAN.json is a list of steps, each done in this order (every key optional):
//   name             what the step is called in the output
//   write            {path, content}: write a file (.vscode/settings.json, a new script)
//   open             a file name: click it in the explorer once it shows there
//   command          a command palette entry: F1, type it, Enter (the editor has the focus)
//   notification     wait for a notification toast containing this text
//   noRow            wait until no Problems panel row contains this text
//   row              wait for a Problems panel row containing this text
//   quickFix         {row, title}: in the light bulb menu of the Problems row containing
//                    `row`, choose the quick fix whose title contains `title`; wait until
//                    the row is gone (the edit applied, the file checked again)
//   save             save the active editor (Ctrl+S) and wait until it is no longer dirty
//   timeout          ms for each wait of the step (default 60000)
// Prints one JSON line: {"rows": [Problems rows at the screenshot], "steps": [{name, rows,
// notifications, ms, error?}]}; exits 1 when anything failed (the steps before it are in the
// JSON, the failed one has "error"; the screenshot of the moment is saved as *-failed.png).

const fs = require('fs');
const path = require('path');
const { chromium } = require(process.env.PLAYWRIGHT_CORE || 'playwright-core');

const [url, screenshot, planFile] = process.argv.slice(2);
const CODE = process.env.EXPECT_CODE || 'TL202';
const plan = planFile ? JSON.parse(fs.readFileSync(planFile, 'utf8')) : [];

const ROWS = '.markers-panel .monaco-list-row';
const TOASTS = '.notifications-toasts .notification-list-item-message';

async function runStep(page, step) {
    const timeout = step.timeout || 60_000;
    if (step.write) {
        fs.mkdirSync(path.dirname(step.write.path), { recursive: true });
        fs.writeFileSync(step.write.path, step.write.content);
    }
    if (step.open) {
        const entry = page.locator('.explorer-folders-view .monaco-list-row', { hasText: step.open }).first();
        await entry.waitFor({ timeout });
        await entry.click();
        await page.locator('.tabs-container .tab.active', { hasText: step.open }).waitFor({ timeout });
    }
    if (step.command) {
        // the command's enablement reads the focused editor's language
        await page.locator('.editor-group-container .monaco-editor .view-lines').first().click();
        await page.keyboard.press('F1');
        const input = page.locator('.quick-input-widget input');
        await input.waitFor({ timeout });
        await input.fill(`>${step.command}`);
        const entry = page.locator('.quick-input-list .monaco-list-row', { hasText: step.command }).first();
        await entry.waitFor({ timeout });
        await page.keyboard.press('Enter');
    }
    if (step.notification) {
        await page.locator(TOASTS, { hasText: step.notification }).first().waitFor({ timeout });
    }
    if (step.noRow) {
        await page.locator(ROWS, { hasText: step.noRow }).first().waitFor({ state: 'detached', timeout });
    }
    if (step.row) {
        await page.locator(ROWS, { hasText: step.row }).first().waitFor({ timeout });
    }
    if (step.quickFix) {
        // the Problems row's light bulb menu lists the finding's quick fixes, as the editor's does.
        // On a busy machine a click can land while the menu is still being built and choose
        // nothing: the menu is opened again while the row is still there (an edit that did
        // apply removes the row; one made for an older version of the cells is refused).
        const row = page.locator(ROWS, { hasText: step.quickFix.row }).first();
        const attempts = 3;
        for (let attempt = 1; ; attempt++) {
            await row.click();
            await row.locator('.markers-panel-action-quickfix').first().click();
            // hover focuses the entry (monaco's menus follow the mouse), Enter runs it: a plain
            // click on the entry was sometimes lost while the menu was still settling
            const entry = page.locator('.monaco-menu .action-item', { hasText: step.quickFix.title }).first();
            await entry.hover();
            await page.keyboard.press('Enter');
            try {
                await row.waitFor({ state: 'detached', timeout: attempt < attempts ? timeout / attempts : timeout });
                break;
            } catch (error) {
                if (attempt >= attempts) throw error;
                await page.keyboard.press('Escape');
            }
        }
    }
    if (step.save) {
        await page.keyboard.press('Control+s');
        await page.locator('.tabs-container .tab.active.dirty').waitFor({ state: 'detached', timeout });
    }
}

(async () => {
    const browser = await chromium.launch({
        executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
        args: [
            '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
            '--disable-background-networking', '--disable-component-update', '--disable-sync',
        ],
    });
    const result = { rows: null, steps: [] };
    let page;
    try {
        page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
        await page.goto(url, { waitUntil: 'domcontentloaded' });
        await page.waitForSelector('.monaco-workbench .explorer-folders-view', { timeout: 60_000 });

        await page.locator('.explorer-folders-view .monaco-list-row', { hasText: 'train.py' }).first().click();
        await page.waitForSelector('.monaco-editor .view-lines', { timeout: 30_000 });

        await page.locator('.monaco-editor .view-lines').first().click();
        await page.keyboard.press('Control+Shift+M');
        const row = page.locator(ROWS, { hasText: CODE }).first();
        await row.waitFor({ timeout: 90_000 });

        // let the squiggle render, then show the editor and the panel
        await page.waitForTimeout(1500);
        await page.screenshot({ path: screenshot });
        result.rows = await page.locator(ROWS).allInnerTexts();

        for (const step of plan) {
            const record = { name: step.name, rows: null, notifications: null, ms: 0 };
            result.steps.push(record);
            const start = Date.now();
            try {
                await runStep(page, step);
            } catch (error) {
                record.error = String(error);
                throw error;
            } finally {
                record.ms = Date.now() - start;
                record.rows = await page.locator(ROWS).allInnerTexts().catch(() => null);
                record.notifications = await page.locator(TOASTS).allInnerTexts().catch(() => null);
            }
        }
    } catch (error) {
        if (page) {
            await page.screenshot({ path: screenshot.replace(/\.png$/, '-failed.png') }).catch(() => {});
        }
        console.error(String(error));
        process.exitCode = 1;
    } finally {
        console.log(JSON.stringify(result));
        await browser.close();
    }
})();
