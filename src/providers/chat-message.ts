import { z } from 'zod';

/**
 * One turn of a conversation. `tool_call_id` links a `tool` message to the call it answers; both providers
 * need it for tool results.
 */
export const ChatMessage = z.strictObject({
  role: z.enum(['system', 'user', 'assistant', 'tool']),
  content: z.string(),
  tool_call_id: z.string().min(1).optional(),
});
export type ChatMessage = z.infer<typeof ChatMessage>;

export const ChatMessages = z.array(ChatMessage).min(1, 'must hold at least one message');
