import { describeCron } from './cron-words';

describe('describeCron', () => {
  it.each([
    ['* * * * *', 'every minute'],
    ['*/5 * * * *', 'every 5 minutes'],
    ['0 * * * *', 'every hour, on the hour'],
    ['15 * * * *', 'every hour at minute 15'],
    ['0 2 * * *', 'at 02:00'],
    ['30 9 * * 1-5', 'at 09:30, on weekdays'],
    ['0 0 1 * *', 'at 00:00, on the 1st of the month'],
    ['0 8 * * sat,sun', 'at 08:00, on Saturday and Sunday'],
    ['0 12 * jan *', 'at 12:00, in January'],
    ['*/10 * * * * *', 'every 10 seconds'],
    ['0 0 */6 * * *', 'every 6 hours, on the hour'],
    ['0 30 */2 * * *', 'every 2 hours, at minute 30'],
    ['@daily', 'at 00:00'],
    ['0 0 * * 7', 'at 00:00, on Sunday'],
    ['0 22 * * 1,3,5', 'at 22:00, on Monday, Wednesday and Friday'],
  ])('%s → %s', (expression, words) => {
    expect(describeCron(expression)).toBe(words);
  });

  it('quotes what it cannot put in words instead of guessing', () => {
    expect(describeCron('0 0 * * 1#2')).toBe("cron '0 0 * * 1#2'");
    expect(describeCron('nonsense')).toBe("cron 'nonsense'");
  });
});
