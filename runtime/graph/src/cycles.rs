//! Rule 4: no cycles. Each strongly connected component with a loop is reported once, as one of
//! its shortest cycles through its first declared step.

use std::collections::{HashMap, VecDeque};

use crate::GraphError;
use crate::validate::Graph;

impl Graph<'_> {
    /// Rule 4: reports one cycle per strongly connected component, and returns those components
    /// (each sorted, ordered by first step).
    pub(crate) fn check_cycles(&self, errors: &mut Vec<GraphError>) -> Vec<Vec<usize>> {
        let mut components = self.strongly_connected();
        components.retain(|c| c.len() > 1 || self.succ[c[0]].contains(&c[0]));
        for c in &mut components {
            c.sort_unstable();
        }
        components.sort_unstable();
        for component in &components {
            let steps = self.names(&self.cycle_through(component));
            errors.push(GraphError::Cycle { steps });
        }
        components
    }

    /// Tarjan's algorithm, without recursion: the strongly connected components of the graph.
    fn strongly_connected(&self) -> Vec<Vec<usize>> {
        const NONE: usize = usize::MAX;
        let n = self.succ.len();
        let (mut index, mut low, mut on_stack) = (vec![NONE; n], vec![0; n], vec![false; n]);
        let (mut stack, mut components, mut counter) = (Vec::new(), Vec::new(), 0);
        for root in (0..n).filter(|&i| self.canonical[i]) {
            if index[root] != NONE {
                continue;
            }
            let mut calls = vec![(root, 0)];
            index[root] = counter;
            low[root] = counter;
            counter += 1;
            stack.push(root);
            on_stack[root] = true;
            while let Some(&mut (v, ref mut next)) = calls.last_mut() {
                if let Some(&w) = self.succ[v].get(*next) {
                    *next += 1;
                    if index[w] == NONE {
                        (index[w], low[w]) = (counter, counter);
                        counter += 1;
                        stack.push(w);
                        on_stack[w] = true;
                        calls.push((w, 0));
                    } else if on_stack[w] {
                        low[v] = low[v].min(index[w]);
                    }
                    continue;
                }
                calls.pop();
                if let Some(&(u, _)) = calls.last() {
                    low[u] = low[u].min(low[v]);
                }
                if low[v] == index[v] {
                    let mut component = Vec::new();
                    while let Some(w) = stack.pop() {
                        on_stack[w] = false;
                        component.push(w);
                        if w == v {
                            break;
                        }
                    }
                    components.push(component);
                }
            }
        }
        components
    }

    /// A shortest cycle from the first step of a (sorted) strongly connected component back to it.
    fn cycle_through(&self, component: &[usize]) -> Vec<usize> {
        let first = component[0];
        let mut parent: HashMap<usize, usize> = HashMap::new();
        let mut queue = VecDeque::from([first]);
        while let Some(v) = queue.pop_front() {
            for &w in &self.succ[v] {
                if w == first {
                    let mut path = vec![v];
                    let mut at = v;
                    while at != first {
                        at = parent[&at];
                        path.push(at);
                    }
                    path.reverse();
                    return path;
                }
                if component.binary_search(&w).is_ok() && !parent.contains_key(&w) {
                    parent.insert(w, v);
                    queue.push_back(w);
                }
            }
        }
        vec![first]
    }
}
