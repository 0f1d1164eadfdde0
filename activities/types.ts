// The activities' inputs and outputs: the campaign's types (src/campaign/types.ts).
export type * from '../src/campaign/types';
