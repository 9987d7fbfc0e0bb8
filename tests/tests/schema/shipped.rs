//! The configurations the repository ships: the compose example, the Kubernetes ConfigMaps'
//! `data` entries, and the README's examples.

use std::path::PathBuf;

use serde::Deserialize as _;

use super::{read, repo};

/// Put on the line before a ```yaml block in README.md's Configuration section that is a
/// fragment, not a whole configuration: the block is then not validated.
const FRAGMENT_MARKER: &str = "<!-- schema: fragment -->";

/// A configuration to validate: where it comes from, and its text.
pub(crate) struct Document {
    pub(crate) name: String,
    pub(crate) yaml: String,
}

pub(crate) fn compose_config() -> Document {
    Document {
        name: "deploy/compose/switchyard.yaml".into(),
        yaml: read("deploy/compose/switchyard.yaml"),
    }
}

/// Every `data` entry of every ConfigMap in `deploy/kubernetes/*.yaml`.
pub(crate) fn configmap_configs() -> Vec<Document> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("deploy/kubernetes"))
        .expect("deploy/kubernetes")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let mut configs = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read");
        for doc in serde_yaml_ng::Deserializer::from_str(&text) {
            let doc = serde_yaml_ng::Value::deserialize(doc).expect("yaml");
            if doc["kind"] != "ConfigMap" {
                continue;
            }
            for (key, value) in doc["data"].as_mapping().into_iter().flatten() {
                configs.push(Document {
                    name: format!("{} data.{}", file.display(), key.as_str().expect("key")),
                    yaml: value.as_str().expect("a config's text").to_owned(),
                });
            }
        }
    }
    assert!(configs.len() >= 3, "sidecar, native sidecar, edge");
    configs
}

/// The ```yaml blocks of README.md between `## Configuration` and `## Benchmarks`, less those
/// marked as fragments.
pub(crate) fn readme_examples() -> Vec<Document> {
    let readme = read("README.md");
    let start = readme
        .find("\n## Configuration")
        .expect("a Configuration section");
    let end = readme
        .find("\n## Benchmarks")
        .expect("a Benchmarks section");
    // `start` is the newline before the heading's line.
    let first_line = readme[..start].matches('\n').count() + 2;
    let mut examples = Vec::new();
    let mut block: Option<(usize, bool, String)> = None;
    let mut previous = "";
    for (i, line) in readme[start + 1..end].lines().enumerate() {
        match &mut block {
            None if line.trim() == "```yaml" => {
                block = Some((
                    first_line + i,
                    previous.trim() == FRAGMENT_MARKER,
                    String::new(),
                ));
            }
            None => {}
            Some((at, fragment, text)) if line.trim() == "```" => {
                if *fragment {
                    eprintln!("README.md line {at}: a fragment (marked), not validated");
                } else {
                    examples.push(Document {
                        name: format!("README.md example at line {at}"),
                        yaml: std::mem::take(text),
                    });
                }
                block = None;
            }
            Some((_, _, text)) => {
                text.push_str(line);
                text.push('\n');
            }
        }
        previous = line;
    }
    assert!(block.is_none(), "README.md: a ```yaml block is not closed");
    assert!(
        examples.len() >= 3,
        "the reference, brokers, several gateways"
    );
    examples
}
