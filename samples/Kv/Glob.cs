namespace Sockeye.Samples.Kv;

/// <summary>Redis's glob patterns (KEYS, SCAN MATCH, PSUBSCRIBE, CONFIG GET): <c>*</c> any bytes,
/// <c>?</c> one byte, <c>[abc]</c>, <c>[^a]</c>, <c>[a-z]</c>, and <c>\</c> to escape.</summary>
internal static class Glob
{
    /// <summary>Whether <paramref name="text"/> matches <paramref name="pattern"/>.</summary>
    /// <remarks>Backtracks only to the last <c>*</c>, so a pattern cannot make it exponential.</remarks>
    public static bool IsMatch(ReadOnlySpan<byte> pattern, ReadOnlySpan<byte> text)
    {
        int p = 0, t = 0, starP = -1, starT = 0;
        while (t < text.Length)
        {
            if (p < pattern.Length && pattern[p] == '*')
            {
                while (p < pattern.Length && pattern[p] == '*')
                {
                    p++;
                }

                if (p == pattern.Length)
                {
                    return true;
                }

                starP = p;
                starT = t;
                continue;
            }

            if (p < pattern.Length && MatchOne(pattern, ref p, text[t]))
            {
                t++;
                continue;
            }

            if (starP < 0)
            {
                return false;
            }

            p = starP;
            t = ++starT;
        }

        while (p < pattern.Length && pattern[p] == '*')
        {
            p++;
        }

        return p == pattern.Length;
    }

    /// <summary>Matches one byte against the pattern element at <paramref name="p"/>, moving past it on success.</summary>
    private static bool MatchOne(ReadOnlySpan<byte> pattern, ref int p, byte c)
    {
        var start = p;
        switch (pattern[p])
        {
            case (byte)'?':
                p++;
                return true;
            case (byte)'\\' when p + 1 < pattern.Length:
                if (pattern[p + 1] == c)
                {
                    p += 2;
                    return true;
                }

                return false;
            case (byte)'[':
                {
                    var i = p + 1;
                    var not = i < pattern.Length && pattern[i] == '^';
                    if (not)
                    {
                        i++;
                    }

                    var match = false;
                    while (i < pattern.Length && pattern[i] != ']')
                    {
                        if (pattern[i] == '\\' && i + 1 < pattern.Length)
                        {
                            match |= pattern[i + 1] == c;
                            i += 2;
                        }
                        else if (i + 2 < pattern.Length && pattern[i + 1] == '-' && pattern[i + 2] != ']')
                        {
                            var (low, high) = pattern[i] <= pattern[i + 2] ? (pattern[i], pattern[i + 2]) : (pattern[i + 2], pattern[i]);
                            match |= c >= low && c <= high;
                            i += 3;
                        }
                        else
                        {
                            match |= pattern[i] == c;
                            i++;
                        }
                    }

                    if (not)
                    {
                        match = !match;
                    }

                    if (!match)
                    {
                        p = start;
                        return false;
                    }

                    p = i < pattern.Length ? i + 1 : i;
                    return true;
                }

            default:
                if (pattern[p] == c)
                {
                    p++;
                    return true;
                }

                return false;
        }
    }
}
