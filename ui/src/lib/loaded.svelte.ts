import { describeError } from './api';

/**
 * What a page fetches and shows: `value` is undefined until the first answer comes, `error` is the refusal in
 * words (cleared by the next good answer). `load` fetches again, after a change too; it never throws.
 */
export class Loaded<T> {
  value = $state<T | undefined>(undefined);
  error = $state('');

  constructor(
    private readonly fetch: () => Promise<T>,
    private readonly describe: (e: unknown) => string = describeError,
  ) {}

  load = async (): Promise<void> => {
    try {
      this.value = await this.fetch();
      this.error = '';
    } catch (e) {
      this.error = this.describe(e);
    }
  };
}
